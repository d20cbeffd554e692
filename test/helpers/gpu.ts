// CUDA tests run only where a GPU answers; elsewhere they are skipped with the reason in their
// title. DIT_REQUIRE_GPU=1 turns the skips into failures (for the GPU machine).
import test, { type ExecutionContext } from 'ava';
import { cudaUnavailableReason } from '../../lib/backend';

export const GPU_REASON = cudaUnavailableReason();

export function gpuTest(title: string, fn: (t: ExecutionContext) => Promise<void> | void): void {
  if (GPU_REASON === null) test.serial(title, fn);
  else if (process.env.DIT_REQUIRE_GPU === '1') test(title, (t) => t.fail(`DIT_REQUIRE_GPU=1 but CUDA is unavailable: ${GPU_REASON}`));
  else test.skip(`${title} [skipped: ${GPU_REASON}]`, fn);
}
