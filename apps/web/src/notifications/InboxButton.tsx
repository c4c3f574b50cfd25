import type { Inbox, Notification } from '@phos/shared';
import { ActionIcon, Anchor, Badge, Button, Drawer, Group, Indicator, Stack, Text } from '@mantine/core';
import { skipToken, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { formatDateTime } from '../format';
import { errorMessage } from '../errors';
import { useTRPC } from '../trpc';
import { showNotice } from './notices';

function markedRead(inbox: Inbox, ids: ReadonlySet<string> | 'all', at: string): Inbox {
  let cleared = 0;
  const notifications = inbox.notifications.map((notification) => {
    if (notification.readAt !== null || (ids !== 'all' && !ids.has(notification.id))) return notification;
    cleared += 1;
    return { ...notification, readAt: at };
  });
  return { ...inbox, notifications, unreadCount: ids === 'all' ? 0 : Math.max(0, inbox.unreadCount - cleared) };
}

/** The staff inbox: loaded once, then kept current by the notifications stream. */
export function InboxButton() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [opened, setOpened] = useState(false);
  const inboxKey = trpc.notifications.inbox.queryKey();
  const inbox = useQuery(trpc.notifications.inbox.queryOptions(undefined, { staleTime: Number.POSITIVE_INFINITY }));

  useSubscription(
    trpc.notifications.onNew.subscriptionOptions(inbox.data ? { lastEventId: inbox.data.lastEventId } : skipToken, {
      onData: ({ data: notification }) => {
        const current = queryClient.getQueryData(inboxKey);
        if (!current || current.notifications.some((known) => known.id === notification.id)) return;
        queryClient.setQueryData(inboxKey, {
          ...current,
          notifications: [notification, ...current.notifications],
          unreadCount: current.unreadCount + (notification.readAt === null ? 1 : 0),
        });
        showNotice({ title: notification.title, body: notification.body, link: notification.link });
      },
    }),
  );

  const optimistic = (ids: ReadonlySet<string> | 'all') => {
    const current = queryClient.getQueryData(inboxKey);
    if (current) queryClient.setQueryData(inboxKey, markedRead(current, ids, new Date().toISOString()));
  };
  const resync = () => queryClient.invalidateQueries({ queryKey: inboxKey });
  const markRead = useMutation(
    trpc.notifications.markRead.mutationOptions({ onMutate: ({ ids }) => optimistic(new Set(ids)), onError: resync }),
  );
  const markAllRead = useMutation(trpc.notifications.markAllRead.mutationOptions({ onMutate: () => optimistic('all'), onError: resync }));

  const unread = inbox.data?.unreadCount ?? 0;
  const notifications = inbox.data?.notifications ?? [];

  function open(notification: Notification) {
    if (notification.readAt === null) markRead.mutate({ ids: [notification.id] });
    setOpened(false);
  }

  return (
    <>
      <Indicator label={unread > 99 ? '99+' : unread} size={18} color="red" disabled={unread === 0} offset={4}>
        <ActionIcon variant="default" size="lg" aria-label={`Notifications, ${unread} unread`} onClick={() => setOpened(true)}>
          <BellIcon />
        </ActionIcon>
      </Indicator>
      <Drawer
        opened={opened}
        onClose={() => setOpened(false)}
        title="Inbox"
        position="right"
        size="md"
        closeButtonProps={{ 'aria-label': 'Close inbox' }}
      >
        <Stack gap="sm">
          <Group justify="space-between">
            <Text size="sm" c="dimmed">
              {unread === 0 ? 'All read' : `${unread} unread`}
            </Text>
            <Button size="xs" variant="light" disabled={unread === 0} onClick={() => markAllRead.mutate()}>
              Mark all read
            </Button>
          </Group>
          {inbox.isError ? (
            <Text size="sm" c="red.8">
              {errorMessage(inbox.error)}
            </Text>
          ) : null}
          {inbox.isSuccess && notifications.length === 0 ? (
            <Text size="sm" c="dimmed" ta="center" py="lg">
              No notifications yet.
            </Text>
          ) : null}
          <Stack component="ul" gap={0} m={0} p={0} style={{ listStyle: 'none' }}>
            {notifications.map((notification) => (
              <li key={notification.id} className="inbox-item" data-unread={notification.readAt === null || undefined}>
                <Group justify="space-between" align="flex-start" wrap="nowrap" gap="xs">
                  <Anchor component={Link} to={notification.link} fw={600} size="sm" onClick={() => open(notification)}>
                    {notification.title}
                  </Anchor>
                  {notification.readAt === null ? (
                    <Badge size="xs" color="red" variant="light">
                      Unread
                    </Badge>
                  ) : null}
                </Group>
                <Text size="sm">{notification.body}</Text>
                <Text size="xs" c="dimmed">
                  <time dateTime={notification.createdAt}>{formatDateTime(notification.createdAt)}</time>
                </Text>
              </li>
            ))}
          </Stack>
        </Stack>
      </Drawer>
    </>
  );
}

function BellIcon() {
  return (
    <svg
      width="18"
      height="18"
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth="2"
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden
    >
      <path d="M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9" />
      <path d="M10.3 21a1.94 1.94 0 0 0 3.4 0" />
    </svg>
  );
}
