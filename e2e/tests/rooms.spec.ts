import { randomUUID } from 'node:crypto';
import { adminCredentials, expect, signIn, test } from '../fixtures';

test.describe('rooms', () => {
  test('adding a room whose name is taken says the name is taken, not that an email is', async ({ page }) => {
    await signIn(page, adminCredentials());
    await page.getByRole('link', { name: 'Administration' }).click();
    const rooms = page.getByRole('region', { name: 'Rooms' });
    const name = `Room ${randomUUID().slice(0, 8)}`;

    await rooms.getByLabel('Room name').fill(name);
    await rooms.getByRole('button', { name: 'Add room' }).click();
    await expect(rooms.getByRole('listitem').filter({ hasText: name })).toBeVisible();
    await expect(rooms.getByLabel('Room name')).toHaveValue('');

    await rooms.getByLabel('Room name').fill(name);
    await rooms.getByRole('button', { name: 'Add room' }).click();
    await expect(rooms.getByText(`A room called ${name} already exists`)).toBeVisible();
    await expect(rooms.getByLabel('Room name')).toHaveAttribute('aria-invalid', 'true');
    await expect(page.getByText('An account with this email already exists')).toHaveCount(0);
    await expect(rooms.getByRole('listitem').filter({ hasText: name })).toHaveCount(1);
  });

  test('the room name is checked once the field is left, then as it is typed in', async ({ page }) => {
    await signIn(page, adminCredentials());
    await page.getByRole('link', { name: 'Administration' }).click();
    const rooms = page.getByRole('region', { name: 'Rooms' });
    const field = rooms.getByLabel('Room name');

    // Half-typed is not wrong yet; leaving the field empty is.
    await field.fill('R');
    await field.fill('');
    await expect(field).not.toHaveAttribute('aria-invalid', 'true');
    await field.blur();
    await expect(rooms.getByText('Required', { exact: true })).toBeVisible();
    await expect(field).toHaveAttribute('aria-invalid', 'true');

    await field.fill('R');
    await expect(rooms.getByText('Required', { exact: true })).toHaveCount(0);
    await field.fill('');
    await expect(rooms.getByText('Required', { exact: true })).toBeVisible();
  });
});
