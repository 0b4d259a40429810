/**
 * What start() undoes on close(), or when a later step of start-up fails: the steps in reverse order of their
 * start, each one run even if an earlier one failed.
 */
export class Teardown {
  private readonly steps: { readonly name: string; readonly run: () => Promise<void> }[] = [];

  /** `run` undoes what was just started; it runs before whatever was started earlier. */
  add(name: string, run: () => Promise<void>): void {
    this.steps.push({ name, run });
  }

  /** Runs every step once, last added first; throws the failure (or an AggregateError of them) at the end. */
  async run(): Promise<void> {
    const failures: Error[] = [];
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step.run();
      } catch (error) {
        failures.push(
          new Error(`${step.name}: ${error instanceof Error ? error.message : String(error)}`, { cause: error }),
        );
      }
    }
    if (failures.length === 1) throw failures[0]!;
    if (failures.length > 1) throw new AggregateError(failures, failures.map((f) => f.message).join('; '));
  }
}
