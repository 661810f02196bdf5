import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface Frozen {
  /** Lets the processes go on (SIGCONT); safe to call more than once. */
  thaw(): void;
}

/**
 * Stops processes with SIGSTOP: their sockets stay open and the kernel still accepts
 * connections for them, but nothing answers, as when a database host hangs. Thaw them in
 * a `finally` or an `afterEach`, so that nothing stays frozen.
 */
export function freeze(pids: number[]): Frozen {
  const stopped: number[] = [];
  for (const pid of pids) if (signal(pid, 'SIGSTOP')) stopped.push(pid);
  return { thaw: () => void stopped.forEach((pid) => signal(pid, 'SIGCONT')) };
}

/**
 * Stops every process of the PostgreSQL whose data folder is `dataDir`: the postmaster
 * first, so that it starts no process after the list is made, then all it started
 * (backends, background workers). Linux only (/proc).
 */
export function freezeCluster(dataDir: string): Frozen {
  const postmaster = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const frozen = freeze([postmaster]);
  const children = freeze(childrenOf(postmaster));
  return {
    thaw: () => {
      children.thaw();
      frozen.thaw();
    },
  };
}

function childrenOf(parent: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    // "pid (comm) state ppid …", where comm may hold spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === parent) children.push(Number(entry));
  }
  return children;
}

function signal(pid: number, name: NodeJS.Signals): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false; // ended meanwhile
  }
}
