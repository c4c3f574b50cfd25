import { Anchor, Paper, Stack, Text, Title } from '@mantine/core';
import { Link } from 'react-router';

export function NotAllowed({ home }: { home: string }) {
  return (
    <Paper withBorder p="xl" maw={560} mx="auto" mt="xl">
      <Stack gap="sm">
        <Title order={1} size="h2">
          Not allowed
        </Title>
        <Text>Your account is not allowed to open this page.</Text>
        <Anchor component={Link} to={home}>
          Go to your home page
        </Anchor>
      </Stack>
    </Paper>
  );
}
