import { acuityLevels, acuitySchema, activeStatuses, queueStatusLabels, queueStatusSchema, type StaffRef } from '@phos/shared';
import { Button, Checkbox, Group, NativeSelect, TextInput } from '@mantine/core';
import { useMemo, useState } from 'react';
import { useSearchParams } from 'react-router';
import type { QueueFilters } from './model';

type FilterParam = 'q' | 'status' | 'acuity' | 'clinician' | 'mine';

function parseFilters(params: URLSearchParams): QueueFilters {
  const status = queueStatusSchema.safeParse(params.get('status'));
  const acuityParam = params.get('acuity');
  const acuity = acuitySchema.safeParse(Number(acuityParam));
  return {
    q: params.get('q') ?? '',
    status: status.success ? status.data : null,
    acuity: acuityParam === 'none' ? 'none' : acuityParam !== null && acuity.success ? acuity.data : null,
    clinicianId: params.get('clinician') || null,
    mine: params.get('mine') === '1',
  };
}

/**
 * The filters live in the URL, so a view can be bookmarked and shared. The router applies URL
 * changes in a transition; until it has, the draft keeps the inputs showing what was just typed.
 */
export function useQueueFilters() {
  const [params, setParams] = useSearchParams();
  const [draft, setDraft] = useState({ base: params, next: params });
  const current = draft.base === params ? draft.next : params;
  const filters = useMemo(() => parseFilters(current), [current]);

  function update(next: URLSearchParams) {
    setDraft({ base: params, next });
    // Typing in the search box should not fill the history with one entry per letter.
    setParams(next, { replace: true });
  }
  function set(name: FilterParam, value: string | null) {
    const next = new URLSearchParams(current);
    if (value === null || value === '') next.delete(name);
    else next.set(name, value);
    update(next);
  }
  const active = Boolean(filters.q || filters.status || filters.acuity || filters.clinicianId || filters.mine);
  return { filters, set, clear: () => update(new URLSearchParams()), active };
}

interface QueueFilterBarProps {
  filters: QueueFilters;
  clinicians: readonly StaffRef[];
  active: boolean;
  onChange: (name: FilterParam, value: string | null) => void;
  onClear: () => void;
}

export function QueueFilterBar({ filters, clinicians, active, onChange, onClear }: QueueFilterBarProps) {
  return (
    <Group gap="sm" align="flex-end" wrap="wrap" role="search" aria-label="Filter the queue">
      <TextInput
        label="Search by name"
        type="search"
        value={filters.q}
        onChange={(event) => onChange('q', event.currentTarget.value)}
        w={220}
      />
      <NativeSelect
        label="Status"
        data={[
          { value: '', label: 'All statuses' },
          ...activeStatuses.map((status) => ({ value: status, label: queueStatusLabels[status] })),
        ]}
        value={filters.status ?? ''}
        onChange={(event) => onChange('status', event.currentTarget.value)}
        w={160}
      />
      <NativeSelect
        label="Acuity"
        data={[
          { value: '', label: 'All levels' },
          ...acuityLevels.map((level) => ({ value: String(level), label: `ESI ${level}` })),
          { value: 'none', label: 'Not triaged' },
        ]}
        value={filters.acuity === null ? '' : String(filters.acuity)}
        onChange={(event) => onChange('acuity', event.currentTarget.value)}
        w={140}
      />
      <NativeSelect
        label="Clinician"
        data={[{ value: '', label: 'Anyone' }, ...clinicians.map((clinician) => ({ value: clinician.id, label: clinician.name }))]}
        value={filters.clinicianId ?? ''}
        onChange={(event) => onChange('clinician', event.currentTarget.value)}
        disabled={filters.mine}
        w={180}
      />
      <Checkbox
        label="Only my patients"
        checked={filters.mine}
        onChange={(event) => onChange('mine', event.currentTarget.checked ? '1' : null)}
        mb={8}
      />
      {active ? (
        <Button variant="subtle" size="sm" onClick={onClear}>
          Clear filters
        </Button>
      ) : null}
    </Group>
  );
}
