// Is the process that left a lock or a temp file still there? Used to tell a live writer's files
// from a killed one's (blob temps, layout temps, index and migrate locks).
import { readFileSync } from 'node:fs';

/** A signal-0 probe: EPERM means it exists but belongs to someone else. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat), or null:
 * with the pid it identifies a process even after the pid is reused.
 */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}
