import type { StaffRef, User } from '@phos/shared';
import { displayName } from '../identity/users.js';

/** How a staff member is named on what they did. */
export function staffRef(user: User): StaffRef {
  return { id: user.id, name: displayName(user) };
}
