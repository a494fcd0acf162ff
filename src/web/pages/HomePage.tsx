// Home: a greeting, what waits for me, and the published apps I may use (app cards → entity cards).
import { Link } from 'react-router-dom';
import { useQueries } from '@tanstack/react-query';
import { Alert, Card, Col, Empty, Row, Space, Typography } from 'antd';
import { AppstoreOutlined, AuditOutlined, RightOutlined } from '@ant-design/icons';
import { api, type PublishedApp } from '../api.ts';
import { useI18n } from '../i18n/index.tsx';
import { PageLoading } from '../PageLoading.tsx';
import { displayName, errorText } from '../session.ts';
import { useApps, useInboxCounts, useMeContext } from '../runtime/hooks.ts';
import { canDo, label } from '../runtime/model.ts';

export default function HomePage() {
  const me = useMeContext();
  const { locale, t } = useI18n();
  const apps = useApps();
  const counts = useInboxCounts();
  const defs = useQueries({
    queries: (apps.data?.apps ?? []).map((a) => ({
      queryKey: ['app', a.name],
      queryFn: () => api.get<PublishedApp>(`/apps/${encodeURIComponent(a.name)}`),
      staleTime: 60_000,
    })),
  });
  const usable = defs
    .map((d) => d.data)
    .filter((d): d is PublishedApp => Boolean(d))
    .map((d) => ({ app: d.definition, entities: d.definition.entities.filter((e) => !e.child && canDo(e, me, 'read')) }))
    .filter((x) => x.entities.length > 0);
  const loading = apps.isPending || defs.some((d) => d.isPending);
  return (
    <Space orientation="vertical" size="middle" className="home">
      <Card variant="borderless" className="home-hello">
        <Typography.Title level={3} className="home-greeting" data-testid="home-greeting">
          {t('home.welcome', { name: displayName(me, locale) })}
        </Typography.Title>
        {counts.data?.todo ? (
          <Link to="/inbox/todo" className="home-todo">
            <AuditOutlined aria-hidden="true" /> {t('home.todo', { n: counts.data.todo })} <RightOutlined aria-hidden="true" />
          </Link>
        ) : null}
      </Card>
      <Typography.Title level={4} className="section-title">
        {t('home.apps')}
      </Typography.Title>
      {apps.isError ? <Alert type="error" title={errorText(apps.error, t)} /> : null}
      {loading ? (
        <PageLoading />
      ) : usable.length === 0 ? (
        <Card variant="borderless">
          <Empty description={t('home.noApps')} />
        </Card>
      ) : (
        <Row gutter={[12, 12]}>
          {usable.map(({ app, entities }) => (
            <Col key={app.name} xs={24} sm={12} lg={8}>
              <Card variant="borderless" className="app-card" title={<Link to={`/a/${app.name}`}><AppstoreOutlined aria-hidden="true" /> {label(app.label, locale)}</Link>}>
                <ul className="entity-links">
                  {entities.map((e) => (
                    <li key={e.name}>
                      <Link to={`/a/${app.name}/${e.name}`} className="entity-link" data-testid={`entity-${app.name}-${e.name}`}>
                        <span>{label(e.label, locale)}</span> <RightOutlined aria-hidden="true" />
                      </Link>
                    </li>
                  ))}
                </ul>
              </Card>
            </Col>
          ))}
        </Row>
      )}
    </Space>
  );
}
