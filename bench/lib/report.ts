/** One measured figure of a scenario, with the goal it is held against. */
export interface Figure {
  scenario: string;
  figure: string;
  value: number | string;
  unit?: string;
  /** The goal, as people read it (`>= 0.95`); absent for figures reported without one. */
  goal?: string;
  /** Whether the goal was met; undefined when there is no goal. */
  met?: boolean;
}

/** A figure held against `>= min`. */
export function atLeast(scenario: string, figure: string, value: number, min: number, unit = ""): Figure {
  return { scenario, figure, value, unit, goal: `>= ${min}`, met: value >= min };
}

/** A figure held against `<= max`. */
export function atMost(scenario: string, figure: string, value: number, max: number, unit = ""): Figure {
  return { scenario, figure, value, unit, goal: `<= ${max}`, met: value <= max };
}

/** A figure reported without a goal. */
export function info(scenario: string, figure: string, value: number | string, unit = ""): Figure {
  return { scenario, figure, value, unit };
}

function shown(value: number | string): string {
  if (typeof value === "string") return value;
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 100
    ? value.toFixed(0)
    : Math.abs(value) >= 10
      ? value.toFixed(1)
      : value.toFixed(3);
}

/** An aligned text table: scenario, figure, value, goal, met?. */
export function formatTable(figures: Figure[]): string {
  const rows = [
    ["scenario", "figure", "value", "goal", "met?"],
    ...figures.map((f) => [
      f.scenario,
      f.figure,
      `${shown(f.value)}${f.unit ? ` ${f.unit}` : ""}`,
      f.goal ?? "",
      f.met === undefined ? "" : f.met ? "yes" : "NO",
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) =>
    row
      .map((cell, column) => (column === 2 ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join("  ")
      .trimEnd();
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}
