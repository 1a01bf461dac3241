// Bytes <-> base64 text with what every JavaScript host has (btoa, atob), for
// backends that keep records as strings (localStorage).

const CHUNK = 0x8000; // fromCharCode's argument list stays small

export function toBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += CHUNK) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + CHUNK));
  }
  return btoa(s);
}

/** Throws on text that is not base64 (the caller reports it as damage). */
export function fromBase64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
