// The part of ECharts Trellis draws with (bar, line and pie on a canvas), registered once.
// Imported only through `import()` (see Chart.tsx): its own chunk, fetched the first time a
// chart is on screen, so no page without a chart pays for it.
import * as echarts from 'echarts/core';
import { BarChart, LineChart, PieChart } from 'echarts/charts';
import { AriaComponent, GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([BarChart, LineChart, PieChart, GridComponent, TooltipComponent, LegendComponent, AriaComponent, CanvasRenderer]);

export { echarts };
export type EChartsOption = echarts.EChartsCoreOption;
