// An awa_queue worker for Node.js with the pg package.
//
// The loop: LISTEN on the queue's channel, claim a batch with
// awa.claim_batch, run the batch's handlers concurrently, then finish the
// batch in at most three statements: awa.complete_batch for the successes
// and awa.fail_batch for the failures (retryable, and terminal for
// PermanentError).  A timer heartbeats jobs that run longer than
// --heartbeat seconds with awa.heartbeat_batch.  Without notifications the
// worker claims every --poll seconds, so a lost notification only delays.
//
//   node worker.js --queue default --batch 10
//   node worker.js --max-jobs 100 --idle-exit 5      # bounded run
//
// The connection comes from the libpq environment (PGHOST, PGPORT, PGUSER,
// PGDATABASE, ...).  The role needs awa.grant_worker(role).  Delivery is at
// least once: make handlers idempotent.
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';

// Thrown by a handler when retrying cannot help: the job fails now.
export class PermanentError extends Error {}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Handlers of the example application (see producer.js), by job kind.
// Each gets the job ({ id, runLease, kind, args, attempt, maxAttempts,
// progress(value) }) and the pool for its own queries.
export const handlers = {
  async send_receipt(job, pool) {
    const { rowCount } = await pool.query(
      'UPDATE app_orders SET receipt_sent_at = now() WHERE id = $1',
      [job.args.order_id]);
    if (rowCount === 0) {
      throw new PermanentError(`order ${job.args.order_id} does not exist`);
    }
  },
  async slow_report(job) {
    const steps = 10;
    const seconds = Number(job.args.seconds ?? 2);
    for (let step = 1; step <= steps; step++) {
      await sleep((seconds * 1000) / steps);
      job.progress({ percent: (step * 100) / steps });
    }
  },
  async flaky() {
    throw new Error('upstream service unavailable');
  },
  async reject(job) {
    throw new PermanentError(`invalid input ${JSON.stringify(job.args)}`);
  },
};

// The NOTIFY channel of a queue: 'awa:' || queue, or 'awa:' || md5(queue)
// when that would not fit in the 63 bytes of a channel name.
export function channelOf(queue) {
  if (Buffer.byteLength(queue) + 4 < 64) return `awa:${queue}`;
  return `awa:${createHash('md5').update(queue).digest('hex')}`;
}

export async function runWorker(opts) {
  const stats = { claimed: 0, completed: 0, retryable: 0, failed: 0,
    stale: 0, heartbeats: 0, batches: 0 };
  const pool = new pg.Pool({ max: 4 });
  const client = new pg.Client();
  await client.connect();

  // Wake-up plumbing: a notification, a stop request or the poll timer
  // resolves the current wait.
  let wake = null;
  let notified = false;
  let stopping = false;
  const wakeUp = () => { notified = true; if (wake) wake(); };
  client.on('notification', wakeUp);
  const stop = () => { stopping = true; if (wake) wake(); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await client.query(`LISTEN "${channelOf(opts.queue).replaceAll('"', '""')}"`);

  // Heartbeats: every job running for at least opts.heartbeat seconds.
  const running = new Map();
  let beating = false;
  const beat = async () => {
    if (beating) return;
    const now = Date.now();
    const due = [...running.values()].filter(
      (j) => now - j.started >= opts.heartbeat * 1000);
    if (due.length === 0) return;
    beating = true;
    try {
      const progress = due.map((j) => { const p = j.pending; j.pending = null; return p; });
      const { rows } = await pool.query(
        'SELECT awa.heartbeat_batch($1::bigint[], $2::bigint[], $3::jsonb[]) AS n',
        [due.map((j) => j.id), due.map((j) => j.runLease), progress]);
      stats.heartbeats += rows[0].n;
    } finally {
      beating = false;
    }
  };
  const timer = setInterval(() => beat().catch((e) => console.error('heartbeat:', e.message)),
    (opts.heartbeat * 1000) / 2);

  const runOne = async (row) => {
    const job = { id: row.job_id, runLease: row.run_lease, kind: row.kind,
      args: row.args, attempt: row.attempt, maxAttempts: row.max_attempts,
      started: Date.now(), pending: null };
    job.progress = (value) => { job.pending = value; };
    running.set(job.id, job);
    try {
      const fn = handlers[job.kind];
      if (!fn) throw new PermanentError(`no handler for kind ${job.kind}`);
      await fn(job, pool);
      return { job };
    } catch (error) {
      return { job, error };
    } finally {
      running.delete(job.id);
    }
  };

  const fail = async (results, terminal) => {
    if (results.length === 0) return;
    const { rows } = await client.query(
      'SELECT job_id, state::text FROM awa.fail_batch($1::bigint[], $2::bigint[], $3::text[], $4)',
      [results.map((r) => r.job.id), results.map((r) => r.job.runLease),
        results.map((r) => `${r.error.name}: ${r.error.message}`), terminal]);
    for (const { state } of rows) {
      stats[state === 'retryable' ? 'retryable' : 'failed'] += 1;
    }
    stats.stale += results.length - rows.length;
  };

  let idleSince = Date.now();
  try {
    while (!stopping) {
      let want = opts.batch;
      if (opts.maxJobs) {
        want = Math.min(want, opts.maxJobs - stats.claimed);
        if (want <= 0) break;
      }
      notified = false;
      const { rows: claimed } = await client.query(
        'SELECT job_id, run_lease, kind, args, attempt, max_attempts'
        + ' FROM awa.claim_batch($1::text, $2::integer, $3::interval)',
        [opts.queue, want, `${opts.deadline} seconds`]);
      if (claimed.length > 0) {
        stats.claimed += claimed.length;
        stats.batches += 1;
        const results = await Promise.all(claimed.map(runOne));
        const done = results.filter((r) => !r.error).map((r) => r.job);
        if (done.length > 0) {
          const { rowCount } = await client.query(
            'SELECT job_id FROM awa.complete_batch($1::bigint[], $2::bigint[])',
            [done.map((j) => j.id), done.map((j) => j.runLease)]);
          stats.completed += rowCount;
          stats.stale += done.length - rowCount;
        }
        await fail(results.filter((r) => r.error && !(r.error instanceof PermanentError)), false);
        await fail(results.filter((r) => r.error instanceof PermanentError), true);
        idleSince = Date.now();
        continue;
      }
      if (opts.idleExit && Date.now() - idleSince >= opts.idleExit * 1000) break;
      if (!notified && !stopping) {
        let timeout;
        await new Promise((resolve) => {
          wake = resolve;
          timeout = setTimeout(resolve, opts.poll * 1000);
        });
        clearTimeout(timeout);
        wake = null;
      }
    }
  } finally {
    clearInterval(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await client.end();
    await pool.end();
  }
  return stats;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      queue: { type: 'string', default: 'default' },
      batch: { type: 'string', default: '10' },
      deadline: { type: 'string', default: '300' },
      heartbeat: { type: 'string', default: '30' },
      poll: { type: 'string', default: '5' },
      'max-jobs': { type: 'string', default: '0' },
      'idle-exit': { type: 'string', default: '0' },
    },
  });
  const stats = await runWorker({
    queue: values.queue,
    batch: Number(values.batch),
    deadline: Number(values.deadline),
    heartbeat: Number(values.heartbeat),
    poll: Number(values.poll),
    maxJobs: Number(values['max-jobs']),
    idleExit: Number(values['idle-exit']),
  });
  console.log(JSON.stringify(stats));
}
