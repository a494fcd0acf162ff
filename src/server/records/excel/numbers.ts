// Numbers between spreadsheets and exact decimals (invariant 5).
//
// Import: a numeric .xlsx cell is an IEEE double. Excel itself shows and computes with at most
// 15 significant digits, so a numeric cell is read at 15 significant digits: that removes the
// binary noise of formulas (0.1+0.2 = 0.30000000000000004 is read as 0.3) and gives exactly what
// Excel displays. Digits beyond the 15th cannot be stored in a numeric cell at all; such values
// must be text cells (export writes them so). Trailing zeros that the cell's number format shows
// ("0.00" → 12.50) are kept. A percent format ("0.0%") means the cell holds a fraction: 0.125
// shown as 12.5% is the percent value 12.5.
//
// Export: a decimal is written as a numeric cell (with a number format that shows exactly its
// digits) only when a double holds it exactly within 15 significant digits; otherwise as a text
// cell holding the exact digits. Either way, reading the file back gives the same decimal.

/** Significant digits Excel keeps. */
export const EXCEL_DIGITS = 15;

/** A finite double in plain positional notation (no exponent), as JS prints it shortest. */
export function plainNumber(x: number): string {
  const s = String(x);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const [, sign, lead, frac = '', expS] = m;
  const digits = lead! + frac;
  const exp = Number(expS);
  const point = 1 + exp; // position of the decimal point within `digits`
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** A double as Excel shows it: rounded to 15 significant digits, in plain notation. */
export function excelNumberText(x: number): string {
  if (x === 0) return '0';
  return plainNumber(Number(x.toPrecision(EXCEL_DIGITS)));
}

/** Moves the decimal point of a plain decimal string `by` places to the right (exact). */
export function shiftDecimal(s: string, by: number): string {
  const neg = s.startsWith('-');
  const [i = '0', f = ''] = (neg ? s.slice(1) : s).split('.');
  let digits = i + f;
  let point = i.length + by;
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits = digits.padEnd(point, '0');
  let intPart = digits.slice(0, point).replace(/^0+(?=\d)/, '') || '0';
  const frac = digits.slice(point);
  if (intPart === '') intPart = '0';
  const out = frac ? `${intPart}.${frac}` : intPart;
  return neg && /[1-9]/.test(out) ? `-${out}` : out;
}

export interface FormatInfo {
  /** Digits after the point the format shows (`0.00` → 2). */
  decimals: number;
  /** The format multiplies by 100 and shows "%". */
  percent: boolean;
  /** A format of zeros only (`00000`): integers shown with leading zeros to that width. */
  zeroPad: number;
}

/** What a cell's number format says about how the value is shown (first section only). */
export function formatInfo(numFmt: string | undefined): FormatInfo {
  if (!numFmt) return { decimals: 0, percent: false, zeroPad: 0 };
  const first = numFmt.split(';')[0] ?? '';
  const bare = first.replace(/"[^"]*"/g, '').replace(/\\./g, '').replace(/\[[^\]]*\]/g, '').replace(/_.|\*./g, '');
  const m = /\.([0#?]+)/.exec(bare);
  return {
    decimals: m ? (m[1]!.match(/0/g)?.length ?? 0) : 0,
    percent: bare.includes('%'),
    zeroPad: /^0+$/.test(bare.trim()) ? bare.trim().length : 0,
  };
}

/** A numeric cell as an exact decimal string (see the head of this file). */
export function decimalOfNumberCell(x: number, numFmt: string | undefined, asPercent: boolean): string {
  const info = formatInfo(numFmt);
  let s = excelNumberText(x);
  if (asPercent && info.percent) s = shiftDecimal(s, 2);
  const frac = s.split('.')[1] ?? '';
  if (info.decimals > frac.length) s = `${s}${frac.length ? '' : '.'}${'0'.repeat(info.decimals - frac.length)}`;
  return s;
}

/** A numeric cell's text the way the sheet shows it for text fields: `00123` when formatted so. */
export function textOfNumberCell(x: number, numFmt: string | undefined): string {
  const info = formatInfo(numFmt);
  const s = excelNumberText(x);
  if (info.zeroPad && /^\d+$/.test(s)) return s.padStart(info.zeroPad, '0');
  return s;
}

/** Can the decimal string be written as a numeric cell and read back as the same value? */
export function fitsExcelNumber(s: string): boolean {
  const digits = s.replace(/^-/, '').replace('.', '').replace(/^0+/, '');
  if (digits.length > EXCEL_DIGITS) return false;
  const x = Number(s);
  return Number.isFinite(x) && excelNumberText(x) === canonical(s);
}

/** Without trailing fraction zeros, leading zeros or "-0". */
export function canonical(s: string): string {
  const neg = s.startsWith('-');
  const [i = '0', f = ''] = (neg ? s.slice(1) : s).split('.');
  const intPart = i.replace(/^0+(?=\d)/, '') || '0';
  const frac = f.replace(/0+$/, '');
  const out = frac ? `${intPart}.${frac}` : intPart;
  return neg && out !== '0' ? `-${out}` : out;
}

/** A number format that shows exactly `decimals` digits after the point. */
export function numberFormat(decimals: number, grouping: boolean): string {
  const int = grouping ? '#,##0' : '0';
  return decimals > 0 ? `${int}.${'0'.repeat(decimals)}` : int;
}
