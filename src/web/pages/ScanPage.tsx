// Scan a QR code with the phone's camera and open the record or form it names. Uses the
// browser's BarcodeDetector where there is one (Chrome on Android), else @zxing/browser (iOS,
// WeCom/DingTalk webviews), loaded only here. A typed code works too (no camera, desktop).
import { useEffect, useRef, useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { Alert, Button, Card, Input, Space, Typography } from 'antd';
import { CameraOutlined } from '@ant-design/icons';
import { useI18n } from '../i18n/index.tsx';
import { qrTarget } from '../runtime/model.ts';

interface Detector {
  detect(source: HTMLVideoElement): Promise<Array<{ rawValue: string }>>;
}
type DetectorCtor = new (opts: { formats: string[] }) => Detector;

export default function ScanPage() {
  const { t } = useI18n();
  const navigate = useNavigate();
  const video = useRef<HTMLVideoElement>(null);
  const stopRef = useRef<(() => void) | null>(null);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [manual, setManual] = useState('');

  useEffect(() => () => stopRef.current?.(), []);

  const found = (text: string) => {
    const path = qrTarget(text);
    if (!path) {
      setError(t('scan.unknown', { text: text.slice(0, 120) }));
      return false;
    }
    stopRef.current?.();
    void navigate(path);
    return true;
  };

  const start = async () => {
    setError(null);
    const el = video.current;
    if (!el) return;
    try {
      const BD = (window as unknown as { BarcodeDetector?: DetectorCtor }).BarcodeDetector;
      if (BD && navigator.mediaDevices?.getUserMedia) {
        const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
        el.srcObject = stream;
        await el.play();
        const detector = new BD({ formats: ['qr_code'] });
        let live = true;
        stopRef.current = () => {
          live = false;
          stream.getTracks().forEach((tr) => tr.stop());
          setRunning(false);
        };
        setRunning(true);
        const tick = async () => {
          if (!live) return;
          try {
            const codes = await detector.detect(el);
            if (codes[0] && found(codes[0].rawValue)) return;
          } catch {
            /* a frame that could not be read: try the next one */
          }
          window.setTimeout(() => void tick(), 250);
        };
        void tick();
        return;
      }
      const { BrowserQRCodeReader } = await import('@zxing/browser');
      const reader = new BrowserQRCodeReader();
      const controls = await reader.decodeFromConstraints({ video: { facingMode: 'environment' } }, el, (result) => {
        if (result) found(result.getText());
      });
      stopRef.current = () => {
        controls.stop();
        setRunning(false);
      };
      setRunning(true);
    } catch (err) {
      setRunning(false);
      setError(t('scan.noCamera', { reason: (err as Error).message || String(err) }));
    }
  };

  return (
    <Card variant="borderless" className="scan-page" title={<Typography.Title level={4} className="page-title">{t('scan.title')}</Typography.Title>}>
      <Space orientation="vertical" style={{ width: '100%' }} size="middle">
        <div className={`scan-frame${running ? ' is-running' : ''}`}>
          <video ref={video} muted playsInline aria-label={t('scan.hint')} className="scan-video" />
          {!running ? (
            <Button type="primary" size="large" icon={<CameraOutlined />} onClick={() => void start()} className="scan-start touch-button">
              {t('scan.start')}
            </Button>
          ) : (
            <div className="scan-hint">{t('scan.hint')}</div>
          )}
        </div>
        {error ? <Alert type="warning" showIcon title={error} role="alert" /> : null}
        <Space.Compact style={{ width: '100%' }}>
          <Input aria-label={t('scan.manual')} placeholder={t('scan.manual')} value={manual} onChange={(e) => setManual(e.target.value)} onPressEnter={() => found(manual)} />
          <Button type="primary" onClick={() => found(manual)} disabled={!manual.trim()}>
            {t('scan.go')}
          </Button>
        </Space.Compact>
        <Typography.Text type="secondary">{t('scan.format', { example: `${window.location.origin}/a/visitor/visit/<id>` })}</Typography.Text>
      </Space>
    </Card>
  );
}
