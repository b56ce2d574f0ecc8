/**
 * Runs an action at most once per interval, however often it is asked for:
 * the first request runs after the interval since the last run has passed,
 * and requests in between are merged into it.
 */
export class Throttle {
  constructor(
    private readonly action: () => void,
    private readonly intervalMs: number
  ) {}

  /** Ask for the action to run (soon, not now). */
  request(): void {
    if (this._timer !== null) {
      return;
    }
    const wait = Math.max(0, this._last + this.intervalMs - Date.now());
    this._timer = window.setTimeout(() => {
      this._timer = null;
      this._last = Date.now();
      this.action();
    }, wait);
  }

  /** Drop a pending run. */
  cancel(): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _timer: number | null = null;
  private _last = 0;
}
