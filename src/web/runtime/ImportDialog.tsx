// Spreadsheet import: choose a file, check the suggested column mapping, run a dry run for the
// validation report, then import all-or-nothing or only the valid rows. Loaded lazily.
import { useState } from 'react';
import { Alert, Button, Modal, Radio, Select, Space, Table, Typography } from 'antd';
import { UploadOutlined } from '@ant-design/icons';
import { postSpreadsheet, recordsPath, type EntityDef } from '../api.ts';
import { useI18n } from '../i18n/index.tsx';
import { errorText } from '../session.ts';
import { label } from './model.ts';

interface Preview {
  totalRows: number;
  columns: Array<{ letter: string; header: string; field: string | null; samples: string[] }>;
  mapping: Record<string, string | null>;
  fields: Array<{ name: string; label: { zh: string; en?: string }; required: boolean }>;
  unmappedRequired: string[];
}
interface Report {
  dryRun: boolean;
  committed: boolean;
  total: number;
  imported: number;
  failed: number;
  rows: Array<{ row: number; ok: boolean; errors: Array<{ column: string | null; field: string | null; message: string }> }>;
}

export default function ImportDialog({ app, entity, onClose }: { app: string; entity: EntityDef; onClose: (imported: boolean) => void }) {
  const { t, locale } = useI18n();
  const [file, setFile] = useState<File | null>(null);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [mapping, setMapping] = useState<Record<string, string | null>>({});
  const [mode, setMode] = useState<'all_or_nothing' | 'valid_rows_only'>('all_or_nothing');
  const [report, setReport] = useState<Report | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [imported, setImported] = useState(false);
  const base = recordsPath(app, entity.name);

  const choose = async (f: File | undefined) => {
    if (!f) return;
    setFile(f);
    setReport(null);
    setError(null);
    setBusy(true);
    try {
      const p = await postSpreadsheet<Preview>(`${base}/import/preview`, f, {});
      setPreview(p);
      setMapping(p.mapping);
    } catch (err) {
      setError(errorText(err, t));
    } finally {
      setBusy(false);
    }
  };
  const run = async (dryRun: boolean) => {
    if (!file) return;
    setBusy(true);
    setError(null);
    try {
      const r = await postSpreadsheet<Report>(`${base}/import`, file, { mapping: JSON.stringify(mapping), mode, dryRun: String(dryRun) });
      setReport(r);
      if (r.committed) setImported(true);
    } catch (err) {
      setError(errorText(err, t));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal open title={t('import.title')} onCancel={() => onClose(imported)} width={760} footer={null} destroyOnHidden>
      <Space orientation="vertical" style={{ width: '100%' }}>
        <label className="upload-button ant-btn ant-btn-default">
          <UploadOutlined aria-hidden="true" /> <span>{file ? file.name : t('import.choose')}</span>
          <input type="file" className="visually-hidden" aria-label={t('import.choose')} accept=".xlsx,.csv,text/csv" onChange={(e) => void choose(e.target.files?.[0])} />
        </label>
        {error ? <Alert type="error" showIcon title={error} /> : null}
        {preview ? (
          <>
            <Typography.Title level={5}>{t('import.mapping')}</Typography.Title>
            <Table
              size="small"
              rowKey="letter"
              pagination={false}
              dataSource={preview.columns}
              scroll={{ x: 'max-content', y: 260 }}
              columns={[
                { key: 'col', title: t('import.column'), render: (_, c) => `${c.letter} · ${c.header}` },
                {
                  key: 'field',
                  title: t('import.toField'),
                  render: (_, c) => (
                    <Select
                      aria-label={`${t('import.toField')} ${c.header}`}
                      style={{ minWidth: 160 }}
                      value={mapping[c.header] ?? ''}
                      onChange={(v: string) => setMapping({ ...mapping, [c.header]: v || null })}
                      options={[{ value: '', label: t('import.ignore') }, ...preview.fields.map((f) => ({ value: f.name, label: `${label(f.label, locale)}${f.required ? ' *' : ''}` }))]}
                    />
                  ),
                },
                { key: 'sample', title: '', render: (_, c) => <Typography.Text type="secondary">{c.samples.slice(0, 2).join(' / ')}</Typography.Text> },
              ]}
            />
            <Radio.Group value={mode} onChange={(e) => setMode(e.target.value as typeof mode)} aria-label={t('import.mode')}>
              <Radio value="all_or_nothing">{t('import.allOrNothing')}</Radio>
              <Radio value="valid_rows_only">{t('import.validOnly')}</Radio>
            </Radio.Group>
            <Space>
              <Button onClick={() => void run(true)} loading={busy}>
                {t('import.check')}
              </Button>
              <Button type="primary" onClick={() => void run(false)} loading={busy}>
                {t('import.run')}
              </Button>
            </Space>
          </>
        ) : null}
        {report ? (
          <>
            <Alert
              type={report.failed ? 'warning' : 'success'}
              showIcon
              title={t('import.report', { total: report.total, ok: report.total - report.failed, failed: report.failed })}
              description={report.dryRun ? undefined : report.committed ? t('import.committed', { n: report.imported }) : t('import.nothing')}
            />
            <Table
              size="small"
              rowKey="row"
              pagination={{ pageSize: 20 }}
              dataSource={report.rows.filter((r) => !r.ok)}
              columns={[
                { key: 'row', title: t('import.rowNo'), dataIndex: 'row', width: 70 },
                { key: 'problems', title: t('import.problems'), render: (_, r) => r.errors.map((e, i) => <div key={i}>{[e.column, e.field].filter(Boolean).join(' ')}: {e.message}</div>) },
              ]}
            />
          </>
        ) : null}
      </Space>
    </Modal>
  );
}
