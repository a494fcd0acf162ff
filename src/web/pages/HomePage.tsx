// Home: for now a welcome card with who the user is; apps, tasks and dashboards come later.
import { useOutletContext } from 'react-router-dom';
import { Card, Descriptions, Empty, Space, Tag, Typography } from 'antd';
import type { Me } from '../api.ts';
import { useI18n } from '../i18n/index.tsx';
import { departmentName, displayName } from '../session.ts';

export default function HomePage() {
  const me = useOutletContext<Me>();
  const { locale, t } = useI18n();
  const none = <Typography.Text type="secondary">{t('home.none')}</Typography.Text>;
  return (
    <Space orientation="vertical" size="large" className="home">
      <Card variant="borderless">
        <Typography.Title level={2} className="home-greeting" data-testid="home-greeting">
          {t('home.welcome', { name: displayName(me, locale) })}
        </Typography.Title>
        <Typography.Paragraph type="secondary">{t('home.intro')}</Typography.Paragraph>
        <Descriptions column={1} size="small" className="home-facts">
          <Descriptions.Item label={t('home.username')}>{me.username}</Descriptions.Item>
          <Descriptions.Item label={t('home.departments')}>
            {me.departments.length
              ? me.departments.map((d) => (
                  <Tag key={d.id} title={d.code}>
                    {departmentName(d, locale)}
                  </Tag>
                ))
              : none}
          </Descriptions.Item>
          <Descriptions.Item label={t('home.roles')}>
            {me.roles.length ? me.roles.map((r) => <Tag key={r} color="green">{r}</Tag>) : none}
          </Descriptions.Item>
        </Descriptions>
      </Card>
      <Card variant="borderless">
        <Empty description={t('home.empty')} />
      </Card>
    </Space>
  );
}
