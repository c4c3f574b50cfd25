import type { User } from '@phos/shared';
import { Alert, Button, Paper, Stack, Title } from '@mantine/core';
import { MyCarePlans } from '../care-plans/MyCarePlans';
import { FullPageLoader } from '../components/FullPageLoader';
import { useLiveVisit } from '../patient/useLiveVisit';
import { VisitStatus } from '../patient/VisitStatus';
import { errorMessage } from '../errors';

export function MePage({ user }: { user: User }) {
  const { visit, initial, live } = useLiveVisit();

  let status;
  if (visit) {
    status = <VisitStatus visit={visit} />;
  } else if (initial.isError) {
    status = (
      <Alert color="red" variant="light" title="Could not load your visit">
        {errorMessage(initial.error)}
      </Alert>
    );
  } else {
    status = <FullPageLoader />;
  }

  return (
    <Stack gap="lg" maw={720} mx="auto">
      <Title order={1} size="h2">
        Welcome, {user.firstName}
      </Title>
      <Paper component="section" withBorder p="lg" radius="md" aria-labelledby="visit-heading">
        <Stack gap="md">
          <Title order={2} size="h3" id="visit-heading">
            Your visit
          </Title>
          {status}
        </Stack>
      </Paper>
      {live.status === 'error' ? (
        <Alert color="yellow" variant="light" title="Lost contact with the clinic">
          <Stack gap="xs" align="flex-start">
            We could not follow your visit live, so what you see may be out of date.
            <Button size="xs" variant="light" color="yellow" onClick={() => live.reset()}>
              Reconnect
            </Button>
          </Stack>
        </Alert>
      ) : null}
      <MyCarePlans />
    </Stack>
  );
}
