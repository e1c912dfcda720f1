import { describe, expect, it } from "vitest";
import { formatDuration, parseDurationMs } from "../../src/shared/durations.js";

const DAY = 86_400_000;

describe("durations", () => {
  it("shows whole days as days, and everything else as before", () => {
    expect(formatDuration(14 * DAY)).toBe("14d");
    expect(formatDuration(DAY)).toBe("1d");
    expect(formatDuration(365 * DAY)).toBe("365d");
    // Not a whole day: hours and minutes, as the ETAs and plans have always shown them.
    expect(formatDuration(DAY + 60_000)).toBe("24h01m");
    expect(formatDuration(20_000 * 1000)).toBe("5h33m");
    expect(formatDuration(200_000)).toBe("3m20s");
    expect(formatDuration(12_500)).toBe("12.5s");
    expect(formatDuration(850)).toBe("850ms");
  });

  it("parses what it prints, single units and compound ones", () => {
    for (const ms of [850, 12_500, 200_000, 3_600_000, 5 * 3_600_000 + 33 * 60_000, DAY, 14 * DAY, 365 * DAY])
      expect(parseDurationMs(formatDuration(ms)), formatDuration(ms)).toBe(ms);
    expect(parseDurationMs("14d")).toBe(14 * DAY);
    expect(parseDurationMs("2h05m")).toBe(2 * 3_600_000 + 5 * 60_000);
    expect(parseDurationMs("1m500ms")).toBe(60_500);
    expect(parseDurationMs(" 90 m ")).toBe(90 * 60_000);
    expect(parseDurationMs("900")).toBe(900);
  });

  it("refuses what is not a duration", () => {
    for (const text of ["", "abc", "1h30", "h", "1w", "-5m", "1d 2x", "1.2.3s"])
      expect(parseDurationMs(text), text).toBeUndefined();
  });
});
