import { Anchor } from '@mantine/core';
import { notifications, Notifications } from '@mantine/notifications';
import { useEffect } from 'react';
import { Link } from 'react-router';
import { useMe } from '../auth';

export interface Notice {
  title: string;
  body?: string;
  link?: string;
}

let lastNoticeId = 0;

/**
 * Shows a short-lived notice in the corner. It is a polite status, not Mantine's default alert: a
 * new message in the inbox should not interrupt what a screen reader is saying.
 */
export function showNotice({ title, body, link }: Notice): void {
  lastNoticeId += 1;
  const id = `notice-${lastNoticeId}`;
  notifications.show({
    id,
    role: 'status',
    withBorder: true,
    title: link ? (
      <Anchor component={Link} to={link} inherit onClick={() => notifications.hide(id)}>
        {title}
      </Anchor>
    ) : (
      title
    ),
    message: body ?? null,
    closeButtonProps: { 'aria-label': 'Dismiss notice' },
  });
}

/** Where notices appear. A notice names patients: it belongs to whoever was signed in when it came, and goes at sign-out. */
export function Notices() {
  const userId = useMe().data?.id ?? null;
  useEffect(() => {
    notifications.clean();
  }, [userId]);
  return <Notifications position="bottom-right" limit={4} autoClose={8_000} />;
}
