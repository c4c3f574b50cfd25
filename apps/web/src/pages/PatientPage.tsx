import { staffRoles } from '@phos/shared';
import { Alert, Anchor, Stack } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { Link, useParams } from 'react-router';
import { homeFor, useMe } from '../auth';
import { CarePlansSection } from '../care-plans/CarePlansSection';
import { FullPageLoader } from '../components/FullPageLoader';
import { PatientDetails } from '../patient/PatientDetails';
import { QueueJourney } from '../patient/QueueJourney';
import { usePatientLive } from '../patient/usePatientLive';
import { appCodeOf, errorMessage } from '../errors';
import { useTRPC } from '../trpc';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function PatientPage() {
  const trpc = useTRPC();
  const me = useMe();
  const { id = '' } = useParams();
  const validId = uuidPattern.test(id);
  const isStaff = me.data ? staffRoles.includes(me.data.role) : false;
  const patient = useQuery({ ...trpc.patients.byId.queryOptions({ id }), enabled: validId });
  const live = usePatientLive(id, validId && isStaff && patient.isSuccess);
  const back = me.data ? homeFor(me.data.role) : '/';
  const backLabel = me.data?.role === 'Patient' ? 'Back to your page' : 'Back to the queue';

  let body: ReactNode;
  if (!validId || (patient.isError && appCodeOf(patient.error) === 'NOT_FOUND')) {
    body = (
      <Alert color="gray" variant="light" title="No such patient">
        This patient does not exist.
      </Alert>
    );
  } else if (patient.isPending) {
    body = <FullPageLoader />;
  } else if (patient.isError) {
    body = (
      <Alert color="red" variant="light" title="Could not load the patient">
        {errorMessage(patient.error)}
      </Alert>
    );
  } else {
    body = (
      <>
        <PatientDetails patient={patient.data} live={isStaff ? live : null} />
        {isStaff ? (
          <>
            <QueueJourney patientId={patient.data.id} />
            <CarePlansSection patientId={patient.data.id} />
          </>
        ) : null}
      </>
    );
  }

  return (
    <Stack gap="md" maw={960} mx="auto">
      <Anchor component={Link} to={back} size="sm" style={{ alignSelf: 'flex-start' }}>
        ← {backLabel}
      </Anchor>
      {body}
    </Stack>
  );
}
