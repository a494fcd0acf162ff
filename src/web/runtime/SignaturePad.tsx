// A signature pad: draw with finger or mouse on a canvas, then hand back a PNG. Loaded lazily.
import { useEffect, useRef, useState } from 'react';
import { Button, Space } from 'antd';
import { useI18n } from '../i18n/index.tsx';

export default function SignaturePad({ onDone, onCancel }: { onDone: (png: Blob) => void; onCancel: () => void }) {
  const { t } = useI18n();
  const canvas = useRef<HTMLCanvasElement>(null);
  const drawing = useRef(false);
  const [empty, setEmpty] = useState(true);

  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const ratio = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    c.width = w * ratio;
    c.height = h * ratio;
    const g = c.getContext('2d');
    if (!g) return;
    g.scale(ratio, ratio);
    g.lineWidth = 2.5;
    g.lineCap = 'round';
    g.lineJoin = 'round';
    g.strokeStyle = '#111';
    g.fillStyle = '#fff';
    g.fillRect(0, 0, w, h);
  }, []);

  const pos = (e: React.PointerEvent<HTMLCanvasElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top] as const;
  };
  const down = (e: React.PointerEvent<HTMLCanvasElement>) => {
    const g = e.currentTarget.getContext('2d');
    if (!g) return;
    e.currentTarget.setPointerCapture(e.pointerId);
    drawing.current = true;
    const [x, y] = pos(e);
    g.beginPath();
    g.moveTo(x, y);
    g.lineTo(x + 0.1, y + 0.1);
    g.stroke();
    setEmpty(false);
  };
  const move = (e: React.PointerEvent<HTMLCanvasElement>) => {
    if (!drawing.current) return;
    const g = e.currentTarget.getContext('2d');
    if (!g) return;
    const [x, y] = pos(e);
    g.lineTo(x, y);
    g.stroke();
  };
  const up = () => {
    drawing.current = false;
  };
  const clear = () => {
    const c = canvas.current;
    const g = c?.getContext('2d');
    if (!c || !g) return;
    g.fillRect(0, 0, c.width, c.height);
    setEmpty(true);
  };
  const done = () => canvas.current?.toBlob((b) => b && onDone(b), 'image/png');

  return (
    <div className="signature-pad">
      <canvas
        ref={canvas}
        className="signature-canvas"
        role="img"
        aria-label={t('form.signHere')}
        onPointerDown={down}
        onPointerMove={move}
        onPointerUp={up}
        onPointerCancel={up}
      />
      <Space className="signature-actions" wrap>
        <Button onClick={clear}>{t('form.clearSign')}</Button>
        <Button onClick={onCancel}>{t('common.cancel')}</Button>
        <Button type="primary" disabled={empty} onClick={done}>
          {t('form.useSign')}
        </Button>
      </Space>
    </div>
  );
}
