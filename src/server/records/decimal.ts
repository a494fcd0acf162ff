// Exact decimals as strings (invariant 5): checked, normalised and compared without floats.

export const DECIMAL_RE = /^-?\d+(\.\d+)?$/;

export interface DecimalCheck {
  ok: boolean;
  value?: string;
  message?: string;
}

/** Integer digits a decimal may have (PostgreSQL `numeric` takes far more; this catches typos). */
export const MAX_INTEGER_DIGITS = 28;

/**
 * Normalises a decimal string: no leading zeros, no `-0`, and exactly `scale` digits after the
 * point when a scale is given (padding zeros; more digits are refused, never rounded away).
 */
export function normaliseDecimal(input: string, scale: number | undefined): DecimalCheck {
  if (!DECIMAL_RE.test(input)) return { ok: false, message: `"${input.slice(0, 40)}" is not a decimal number: use digits with an optional "." and "-", e.g. "1234.50"` };
  const neg = input.startsWith('-');
  const [intRaw = '0', fracRaw = ''] = (neg ? input.slice(1) : input).split('.');
  const intPart = intRaw.replace(/^0+(?=\d)/, '');
  if (intPart.length > MAX_INTEGER_DIGITS) return { ok: false, message: `has more than ${MAX_INTEGER_DIGITS} digits before the decimal point` };
  let frac = fracRaw;
  if (scale !== undefined) {
    const significant = frac.replace(/0+$/, '');
    if (significant.length > scale) {
      return { ok: false, message: scale === 0 ? 'must be a whole number' : `allows at most ${scale} digit${scale === 1 ? '' : 's'} after the decimal point` };
    }
    frac = significant.padEnd(scale, '0');
  }
  const isZero = /^0*$/.test(intPart) && /^0*$/.test(frac);
  const body = frac ? `${intPart}.${frac}` : intPart;
  return { ok: true, value: neg && !isZero ? `-${body}` : body };
}

function toScaled(d: string, scale: number): bigint {
  const neg = d.startsWith('-');
  const [i = '0', f = ''] = (neg ? d.slice(1) : d).split('.');
  const v = BigInt(i + f.padEnd(scale, '0').slice(0, scale));
  return neg ? -v : v;
}

/** -1, 0 or 1: exact comparison of two decimal strings. */
export function compareDecimal(a: string, b: string): number {
  const scale = Math.max(a.split('.')[1]?.length ?? 0, b.split('.')[1]?.length ?? 0);
  const x = toScaled(a, scale);
  const y = toScaled(b, scale);
  return x < y ? -1 : x > y ? 1 : 0;
}
