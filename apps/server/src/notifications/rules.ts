import { queueStatusLabels, type DomainEvent, type DomainEventType, type NotificationKind } from '@phos/shared';

/** Who receives a notification. */
export type Recipients =
  { kind: 'signed-in-providers'; except?: string } | { kind: 'all-providers'; except?: string } | { kind: 'users'; ids: string[] };

export interface NotificationRule<T extends DomainEventType = DomainEventType> {
  on: T;
  when?: (payload: Extract<DomainEvent, { type: T }>['payload']) => boolean;
  to: (payload: Extract<DomainEvent, { type: T }>['payload']) => Recipients;
  message: (payload: Extract<DomainEvent, { type: T }>['payload']) => {
    kind: NotificationKind;
    title: string;
    body: string;
    link: string;
  };
}

function rule<T extends DomainEventType>(definition: NotificationRule<T>): NotificationRule {
  return definition as unknown as NotificationRule;
}

const patientLink = (patientId: string) => `/patients/${patientId}`;

/** Which events notify whom. One table: add a row to add a notification. */
export const notificationRules: readonly NotificationRule[] = [
  rule({
    on: 'queue.entry.updated',
    when: ({ change }) => change.kind === 'triage' && change.acuity <= 2,
    // The clinician who set the acuity knows already.
    to: ({ by }) => ({ kind: 'signed-in-providers', except: by.id }),
    message: ({ entry }) => ({
      kind: 'acute_patient',
      title: `ESI ${entry.acuity ?? '?'} patient: ${entry.firstName} ${entry.lastName}`,
      body: `Triaged as ESI ${entry.acuity ?? '?'}; ${queueStatusLabels[entry.status].toLowerCase()}.`,
      link: patientLink(entry.patientId),
    }),
  }),
  rule({
    on: 'queue.entry.overdue',
    to: ({ entry }) => (entry.clinician ? { kind: 'users', ids: [entry.clinician.id] } : { kind: 'all-providers' }),
    message: ({ entry, targetMinutes }) => ({
      kind: 'wait_exceeded',
      title: `Past target: ${entry.firstName} ${entry.lastName}`,
      body: `ESI ${entry.acuity ?? '?'} target is ${targetMinutes} min; still ${queueStatusLabels[entry.status].toLowerCase()}.`,
      link: patientLink(entry.patientId),
    }),
  }),
  rule({
    on: 'careplan.drafted',
    to: ({ by }) => ({ kind: 'all-providers', except: by.id }),
    message: ({ plan, by }) => ({
      kind: 'care_plan_awaiting_approval',
      title: `Care plan awaiting approval: ${plan.title}`,
      body: `Drafted by ${by.name}.`,
      link: patientLink(plan.patientId),
    }),
  }),
];
