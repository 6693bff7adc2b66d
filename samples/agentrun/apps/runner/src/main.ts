// agentrun-runner Job entrypoint: run one task, print one JSON line, exit 0/1/2.
import { parseTask, runTask } from "./task.ts";

function main(): number {
  let task;
  try {
    task = parseTask(process.env.AGENTRUN_TASK);
  } catch (e) {
    console.log(JSON.stringify({ status: "rejected", error: (e as Error).message }));
    return 2;
  }
  const result = runTask(task);
  console.log(JSON.stringify({ ...result, lane: process.env.AGENTRUN_LANE ?? "dev" }));
  return result.status === "done" ? 0 : 1;
}

process.exit(main());
