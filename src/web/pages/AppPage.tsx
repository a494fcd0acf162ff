// One app: a card per entity with its description, open and new.
import { Link, useNavigate, useParams } from 'react-router-dom';
import { Breadcrumb, Button, Card, Col, Row, Space, Typography } from 'antd';
import { PlusOutlined, UnorderedListOutlined } from '@ant-design/icons';
import { ErrorResult } from '../runtime/ErrorResult.tsx';
import { useI18n } from '../i18n/index.tsx';
import { PageLoading } from '../PageLoading.tsx';
import { errorText } from '../session.ts';
import { useAppDef, useMeContext } from '../runtime/hooks.ts';
import { canDo, label } from '../runtime/model.ts';
import { AppDashboardsSlot } from '../dashboards/index.tsx';

export default function AppPage() {
  const { app: name = '' } = useParams();
  const { t, locale } = useI18n();
  const me = useMeContext();
  const navigate = useNavigate();
  const q = useAppDef(name);
  if (q.isPending) return <PageLoading />;
  if (q.isError) return <ErrorResult title={t('app.notFound')} detail={errorText(q.error, t)} />;
  const app = q.data.definition;
  const entities = app.entities.filter((e) => !e.child && canDo(e, me, 'read'));
  return (
    <Space orientation="vertical" size="middle" style={{ width: '100%' }}>
      <Breadcrumb className="page-crumbs" items={[{ title: <Link to="/">{t('nav.apps')}</Link> }, { title: label(app.label, locale) }]} />
      <Typography.Title level={3} className="page-title">
        {label(app.label, locale)}
      </Typography.Title>
      {app.description ? <Typography.Paragraph type="secondary">{app.description}</Typography.Paragraph> : null}
      <Row gutter={[12, 12]}>
        {entities.map((e) => (
          <Col key={e.name} xs={24} sm={12} lg={8}>
            <Card variant="borderless" className="entity-card" title={label(e.label, locale)}>
              {e.description ? <Typography.Paragraph type="secondary" ellipsis={{ rows: 2 }}>{e.description}</Typography.Paragraph> : null}
              <Space wrap>
                <Button icon={<UnorderedListOutlined />} onClick={() => void navigate(`/a/${app.name}/${e.name}`)} className="touch-button">
                  {t('app.open')}
                </Button>
                {canDo(e, me, 'create') ? (
                  <Button type="primary" icon={<PlusOutlined />} onClick={() => void navigate(`/a/${app.name}/${e.name}/new`)} className="touch-button">
                    {t('app.new')}
                  </Button>
                ) : null}
              </Space>
            </Card>
          </Col>
        ))}
      </Row>
      <AppDashboardsSlot app={app} />
    </Space>
  );
}
