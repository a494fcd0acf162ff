// The app the dashboard tests publish: exception tickets with lines, severities, causes, a link to
// a machine register, stage timestamps and row scopes per department; and its dashboard.
import type { AppDef } from '../src/shared/definition.ts';

const L = (zh: string, en?: string) => ({ zh, ...(en ? { en } : {}) });
const opts = (...v: string[]) => v.map((value) => ({ value, label: L(`${value}中`, value.toUpperCase()) }));

export function dashboardsTestApp(name = 'dsh'): AppDef {
  return {
    name,
    label: L('看板测试', 'Dashboard test'),
    entities: [
      {
        name: 'machine',
        label: L('设备', 'Machine'),
        titleField: 'label',
        fields: [{ name: 'label', type: 'text', label: L('名称') }],
        permissions: [{ role: '*', actions: ['read', 'create', 'write'] }],
      },
      {
        name: 'ticket',
        label: L('异常', 'Ticket'),
        submittable: true,
        fields: [
          { name: 'line', type: 'select', label: L('产线', 'Line'), options: opts('l1', 'l2', 'l3') },
          { name: 'severity', type: 'select', label: L('严重度', 'Severity'), options: opts('minor', 'major', 'urgent') },
          { name: 'cause', type: 'select', label: L('原因', 'Cause'), options: opts('machine', 'material', 'method') },
          { name: 'team', type: 'department', label: L('责任班组', 'Team') },
          { name: 'reporter', type: 'user', label: L('上报人', 'Reporter') },
          { name: 'machine', type: 'link', label: L('设备', 'Machine'), target: 'machine' },
          { name: 'downtime', type: 'integer', label: L('停机分钟', 'Downtime') },
          { name: 'cost', type: 'money', label: L('损失', 'Cost') },
          { name: 'note', type: 'long_text', label: L('说明', 'Note') },
          { name: 'occurred_at', type: 'datetime', label: L('发生时间', 'Occurred') },
          { name: 'contained_at', type: 'datetime', label: L('遏制时间', 'Contained') },
          { name: 'closed_at', type: 'datetime', label: L('关闭时间', 'Closed') },
          { name: 'due', type: 'date', label: L('期限', 'Due') },
        ],
        permissions: [
          { role: 'operator', actions: ['read'], scope: 'own_department', fields: { cost: 'hidden' } },
          { role: 'workshop_director', actions: ['read'], scope: 'department_subtree' },
        ],
      },
    ],
    dashboards: [
      {
        name: 'board',
        title: L('异常看板', 'Exception board'),
        widgets: [
          { id: 'total', kind: 'kpi', title: L('异常总数', 'Exceptions'), entity: 'ticket', measure: { op: 'count' }, dateField: 'occurred_at' },
          { id: 'open', kind: 'kpi', title: L('未关闭', 'Open'), entity: 'ticket', measure: { op: 'count', filter: { field: 'closed_at', op: 'empty' } } },
          { id: 'cost_total', kind: 'kpi', title: L('损失合计', 'Cost'), entity: 'ticket', measure: { op: 'sum', field: 'cost' } },
          {
            id: 'downtime',
            kind: 'table',
            title: L('停机', 'Downtime'),
            entity: 'ticket',
            measures: [
              { id: 'sum', op: 'sum', field: 'downtime' },
              { id: 'avg', op: 'avg', field: 'downtime' },
              { id: 'min', op: 'min', field: 'downtime' },
              { id: 'max', op: 'max', field: 'downtime' },
            ],
          },
          { id: 'by_line', kind: 'bar', title: L('按产线', 'By line'), entity: 'ticket', groupBy: [{ field: 'line' }], measure: { op: 'count' } },
          {
            id: 'line_severity',
            kind: 'stacked_bar',
            title: L('产线×严重度', 'Line × severity'),
            entity: 'ticket',
            groupBy: [{ field: 'line' }, { field: 'severity' }],
            measure: { op: 'count' },
            sort: { by: 'group' },
          },
          { id: 'per_day', kind: 'line', title: L('每日', 'Per day'), entity: 'ticket', groupBy: [{ field: 'occurred_at', bucket: 'day' }], measure: { op: 'count' } },
          { id: 'per_week', kind: 'line', title: L('每周', 'Per week'), entity: 'ticket', groupBy: [{ field: 'occurred_at', bucket: 'week' }], measure: { op: 'count' } },
          { id: 'per_month', kind: 'line', title: L('每月', 'Per month'), entity: 'ticket', groupBy: [{ field: 'occurred_at', bucket: 'month' }], measure: { op: 'count' } },
          { id: 'causes_pie', kind: 'pie', title: L('原因', 'Causes'), entity: 'ticket', groupBy: [{ field: 'cause' }], measure: { op: 'count' } },
          { id: 'causes', kind: 'pareto', title: L('原因帕累托', 'Cause Pareto'), entity: 'ticket', groupBy: [{ field: 'cause' }], measure: { op: 'count' } },
          {
            id: 'handling',
            kind: 'bar',
            title: L('各阶段平均处理时长（小时）', 'Average handling hours per stage'),
            entity: 'ticket',
            measures: [
              { id: 'contain', op: 'duration', from: 'occurred_at', to: 'contained_at', label: L('遏制') },
              { id: 'close', op: 'duration', from: 'contained_at', to: 'closed_at', label: L('关闭') },
              { id: 'overall', op: 'duration', from: 'occurred_at', to: 'closed_at', label: L('全程') },
              { id: 'overall_min_sum', op: 'duration', from: 'occurred_at', to: 'closed_at', agg: 'sum', unit: 'minutes', scale: 0 },
            ],
          },
          {
            id: 'by_team',
            kind: 'table',
            title: L('按班组', 'By team'),
            entity: 'ticket',
            groupBy: [{ field: 'team' }],
            measures: [{ id: 'n', op: 'count' }, { id: 'cost', op: 'sum', field: 'cost' }],
            sort: { by: 'value', dir: 'desc' },
          },
          { id: 'by_reporter', kind: 'bar', title: L('按上报人', 'By reporter'), entity: 'ticket', groupBy: [{ field: 'reporter' }], measure: { op: 'count' } },
          { id: 'by_machine', kind: 'bar', title: L('按设备', 'By machine'), entity: 'ticket', groupBy: [{ field: 'machine' }], measure: { op: 'count' } },
          { id: 'by_status', kind: 'pie', title: L('状态', 'Status'), entity: 'ticket', groupBy: [{ field: 'status' }], measure: { op: 'count' } },
          { id: 'by_dept', kind: 'bar', title: L('按部门', 'By department'), entity: 'ticket', groupBy: [{ field: 'owner_department_id' }], measure: { op: 'count' } },
          {
            id: 'weekly_by_line',
            kind: 'line',
            title: L('每周按产线', 'Weekly by line'),
            entity: 'ticket',
            groupBy: [{ field: 'occurred_at', bucket: 'week' }, { field: 'line' }],
            measure: { op: 'count' },
          },
          { id: 'top1', kind: 'bar', title: L('第一', 'Top'), entity: 'ticket', groupBy: [{ field: 'line' }], measure: { op: 'count' }, limit: 1 },
          { id: 'due_month', kind: 'bar', title: L('到期月', 'Due month'), entity: 'ticket', groupBy: [{ field: 'due', bucket: 'month' }], measure: { op: 'count' } },
        ],
      },
      {
        name: 'directors',
        title: L('主任看板', 'Directors'),
        roles: ['workshop_director'],
        widgets: [{ id: 'total', kind: 'kpi', title: L('总数'), entity: 'ticket', measure: { op: 'count' } }],
      },
    ],
  };
}
