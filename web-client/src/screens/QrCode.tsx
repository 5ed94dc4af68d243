//! A QR code as inline SVG (the CSP allows no data: images), for the invitation link; the encoder
//! loads on demand.

import { useEffect, useState } from 'preact/hooks';

/** The QR code's dark modules as one SVG path (inline SVG: the CSP allows no data: images). */
export async function qrPath(text: string): Promise<{ size: number; d: string }> {
  // Loaded on demand: only administrators make invitations, and it is a third of the app's JS.
  const { default: qrcode } = await import('qrcode-generator');
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  let d = '';
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (qr.isDark(r, c)) d += `M${c + 4} ${r + 4}h1v1h-1z`;
  return { size: n + 8, d };
}

export function QrCode({ text, label }: { text: string; label: string }) {
  const [qr, setQr] = useState<{ size: number; d: string } | undefined>();
  useEffect(() => {
    let live = true;
    setQr(undefined);
    void qrPath(text).then((q) => live && setQr(q));
    return () => {
      live = false;
    };
  }, [text]);
  const size = qr?.size ?? 1;
  return (
    <svg class="qr" role="img" aria-label={label} viewBox={`0 0 ${size} ${size}`} width="240" height="240" shape-rendering="crispEdges">
      <title>{label}</title>
      <rect width={size} height={size} fill="#fff" />
      {qr && <path d={qr.d} fill="#000" />}
    </svg>
  );
}
