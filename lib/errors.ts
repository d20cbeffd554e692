/**
 * Error type shared by every part of dit-native. `code` is stable and meant to be
 * matched on by callers; `message` is for humans.
 */
export type DitErrorCode =
  | 'ERR_DIT_FILE'
  | 'ERR_DIT_FORMAT'
  | 'ERR_DIT_WEIGHTS'
  | 'ERR_DIT_CONFIG'
  | 'ERR_DIT_DISPOSED'
  | 'ERR_DIT_NATIVE'
  | 'ERR_DIT_OOM'
  | 'ERR_DIT_CUDA_UNAVAILABLE'
  | 'ERR_DIT_BINDING'
  | 'ERR_DIT_UNSUPPORTED';

export class DitError extends Error {
  readonly code: DitErrorCode;

  constructor(code: DitErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    // Keep instanceof working even if compiled to an ES5 target.
    Object.setPrototypeOf(this, new.target.prototype);
    this.code = code;
    this.name = 'DitError';
  }
}
