import { TRPCError } from '@trpc/server';
import { uuidSchema } from '@phos/shared';
import { recordAudit, type AuditDetail } from '../audit/audit.js';
import type { Db } from '../db/client.js';
import { AppError } from '../errors.js';
import { findPatientByUserId } from '../patients/patients.js';
import { auditActorOf, type Context } from './context.js';

/** What one audit row says a call was about: ids and codes only, never health data. */
export interface AuditAbout {
  patientIds: readonly string[];
  detail?: AuditDetail;
}

/**
 * The patients (and detail) of a call, from its input as sent and, once it has answered, its
 * output. The input is the raw one: a refused call may have sent anything, so read it defensively.
 */
export type AboutCall = (call: { ctx: Context; input: unknown; output?: unknown }) => AuditAbout | Promise<AuditAbout>;

/** How a procedure that touches health data is recorded: declared with `.meta(...)`. */
export type AuditSpec =
  /** Recorded once the procedure has answered (a subscription: once its stream is open), before the answer leaves. */
  | { kind: 'read'; about: AboutCall }
  /** The procedure records its one row with `ctx.audit.record(tx, …)` in its own transaction; `about` names a refused call's patients. */
  | { kind: 'write'; about: AboutCall };

export interface Meta {
  audit?: AuditSpec;
}

/** A call about no patient in particular (a stream opening, a registration before its record exists). */
export const noPatient: AboutCall = () => ({ patientIds: [] });

export function auditRead(about: AboutCall): Meta {
  return { audit: { kind: 'read', about } };
}

export function auditWrite(about: AboutCall = noPatient): Meta {
  return { audit: { kind: 'write', about } };
}

/** The id the raw input holds in `name`, when it is a well-formed one. */
export function idInInput(input: unknown, name: string): string | null {
  const value = typeof input === 'object' && input !== null ? (input as Record<string, unknown>)[name] : undefined;
  const id = uuidSchema.safeParse(value);
  return id.success ? id.data : null;
}

/** The patient the input names in `name`. */
export function patientInInput(name: 'id' | 'patientId' | 'existingPatientId'): AboutCall {
  return ({ input }) => {
    const id = idInInput(input, name);
    return { patientIds: id ? [id] : [] };
  };
}

/**
 * The patients an answer shows; a refused call showed none. `pick` names the procedure's output
 * type; the table-driven audit test checks it against what the procedure really returns.
 */
export function patientsInOutput(pick: (output: never) => readonly string[]): AboutCall {
  return ({ output }) => ({ patientIds: output === undefined ? [] : pick(output as never) });
}

/** The signed-in Patient's own record, once it exists. */
export const ownPatient: AboutCall = async ({ ctx }) => {
  const patient = ctx.user ? await findPatientByUserId(ctx.db, ctx.user.id) : undefined;
  return { patientIds: patient ? [patient.id] : [] };
};

/** Records at most one row per call, and knows whether it will outlive a failure of the call. */
export interface AuditRecorder {
  /**
   * The call's one row. A write passes its transaction, so the row commits or rolls back with
   * the change; take it before appending events, so every transaction locks the audit chain
   * and then the event counter, in that order.
   */
  record(db: Db, about: AuditAbout): Promise<void>;
}

interface CallRecorder extends AuditRecorder {
  /** A row was recorded in this call. */
  readonly recorded: boolean;
  /** A row was recorded outside any transaction of the call, so a failure cannot roll it back. */
  readonly durable: boolean;
  refused(about: AuditAbout, appCode: string): Promise<void>;
}

export function auditRecorder(ctx: Context, path: string): CallRecorder {
  let recorded = false;
  let durable = false;
  return {
    get recorded() {
      return recorded;
    },
    get durable() {
      return durable;
    },
    async record(db, about) {
      if (recorded) throw new Error(`${path} recorded a second audit row`);
      recorded = true;
      durable = db === ctx.db;
      await recordAudit(db, auditActorOf(ctx), { action: path, outcome: 'allowed', ...about });
    },
    async refused(about, appCode) {
      await recordAudit(ctx.db, auditActorOf(ctx), {
        action: path,
        outcome: 'refused',
        patientIds: about.patientIds,
        detail: { ...about.detail, appCode },
      });
    },
  };
}

function appCodeOf(error: TRPCError): string {
  return error.cause instanceof AppError ? error.cause.appCode : error.code;
}

type CallResult = { ok: true; data: unknown } | { ok: false; error: TRPCError };

/**
 * Holds an audited call to exactly one row: a read's row is written here once it answered, a
 * write must have written its own, and a call that failed without a lasting row gets a
 * `refused` one. A read whose row cannot be written fails: its answer is not sent.
 */
export async function settleAudit<R extends CallResult>(
  call: { ctx: Context; path: string; spec: AuditSpec; input: unknown; recorder: CallRecorder },
  result: R,
): Promise<R> {
  const { ctx, path, spec, input, recorder } = call;
  if (!result.ok) {
    if (!recorder.durable) {
      try {
        await recorder.refused(await spec.about({ ctx, input }), appCodeOf(result.error));
      } catch (error) {
        // The caller is refused either way; the lost row must at least reach the log.
        ctx.log.error({ err: error, path }, 'could not record a refused call in the audit trail');
      }
    }
    return result;
  }
  if (spec.kind === 'read') {
    await recorder.record(ctx.db, await spec.about({ ctx, input, output: result.data }));
  } else if (!recorder.recorded) {
    // A programming error, which the table-driven test catches: the change is committed, so the
    // trail still gets its row, and the caller an error rather than a silent success.
    const about = await spec.about({ ctx, input });
    await recorder.record(ctx.db, { ...about, detail: { ...about.detail, notRecordedByProcedure: true } });
    throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: `${path} is audited but recorded no row` });
  }
  return result;
}
