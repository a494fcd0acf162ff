// A QR code drawn from text with the qrcode package (loaded lazily with this component).
import { useEffect, useState } from 'react';
import QRCode from 'qrcode';

export default function QrImage({ text, size = 160, alt }: { text: string; size?: number; alt: string }) {
  const [src, setSrc] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    QRCode.toDataURL(text, { width: size, margin: 1, errorCorrectionLevel: 'M' }).then(
      (url) => live && setSrc(url),
      () => live && setSrc(null),
    );
    return () => {
      live = false;
    };
  }, [text, size]);
  return src ? <img src={src} width={size} height={size} alt={alt} className="qr-image" /> : null;
}
