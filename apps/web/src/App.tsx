import { roles, type User } from '@phos/shared';
import { AppShell, Box } from '@mantine/core';
import { usePrefetchQuery } from '@tanstack/react-query';
import { lazy, Suspense } from 'react';
import { Route, Routes } from 'react-router';
import { RedirectHome, RequireRole } from './auth';
import { AppHeader } from './components/AppHeader';
import { FullPageLoader } from './components/FullPageLoader';
import { Notices } from './notifications/notices';
import { NotFoundPage } from './pages/NotFoundPage';
import { queueListOptions } from './queue/queueList';
import { SessionGuard } from './session/SessionGuard';
import { useTRPC } from './trpc';

// Every page loads on demand: the dashboard does not wait for the forms of the sign-in and
// registration pages (and their schemas), and a patient registering on a phone does not download
// the queue table. boot.ts starts loading the page of the address the app opens at.
const AccountPage = lazy(() => import('./pages/AccountPage').then((module) => ({ default: module.AccountPage })));
const AdminAccountsPage = lazy(() => import('./pages/AdminAccountsPage').then((module) => ({ default: module.AdminAccountsPage })));
const AdminApiClientsPage = lazy(() => import('./pages/AdminApiClientsPage').then((module) => ({ default: module.AdminApiClientsPage })));
const AdminAuditPage = lazy(() => import('./pages/AdminAuditPage').then((module) => ({ default: module.AdminAuditPage })));
const AdminOperationsPage = lazy(() => import('./pages/AdminOperationsPage').then((module) => ({ default: module.AdminOperationsPage })));
const AdminPage = lazy(() => import('./pages/AdminPage').then((module) => ({ default: module.AdminPage })));
const LoginPage = lazy(() => import('./pages/LoginPage').then((module) => ({ default: module.LoginPage })));
const RegisterPage = lazy(() => import('./pages/RegisterPage').then((module) => ({ default: module.RegisterPage })));
const DashboardPage = lazy(() => import('./pages/DashboardPage').then((module) => ({ default: module.DashboardPage })));
const MePage = lazy(() => import('./pages/MePage').then((module) => ({ default: module.MePage })));
const PatientPage = lazy(() => import('./pages/PatientPage').then((module) => ({ default: module.PatientPage })));

/**
 * Asks for the queue as soon as the user is known to be staff, beside the download of the
 * dashboard's code rather than after it: with thousands of entries the list is the slowest
 * request on the way to the first row.
 */
function DashboardRoute({ user }: { user: User }) {
  const trpc = useTRPC();
  usePrefetchQuery(queueListOptions(trpc));
  return <DashboardPage user={user} />;
}

export function App() {
  return (
    <>
      <Notices />
      <AppShell header={{ height: 60 }} padding="md">
        <a className="skip-link" href="#main">
          Skip to content
        </a>
        <AppHeader />
        <SessionGuard />
        <AppShell.Main>
          <Box id="main" tabIndex={-1} maw={1200} mx="auto" py="md">
            <Suspense fallback={<FullPageLoader />}>
              <Routes>
                <Route path="/" element={<RedirectHome />} />
                <Route path="/login" element={<LoginPage />} />
                <Route path="/register" element={<RegisterPage />} />
                <Route path="/me" element={<RequireRole roles={['Patient']}>{(user) => <MePage user={user} />}</RequireRole>} />
                <Route
                  path="/dashboard"
                  element={<RequireRole roles={['Provider', 'Admin']}>{(user) => <DashboardRoute user={user} />}</RequireRole>}
                />
                <Route
                  path="/patients/:id"
                  element={<RequireRole roles={['Provider', 'Admin', 'Patient']}>{() => <PatientPage />}</RequireRole>}
                />
                <Route path="/account" element={<RequireRole roles={roles}>{(user) => <AccountPage user={user} />}</RequireRole>} />
                <Route path="/admin" element={<RequireRole roles={['Admin']}>{() => <AdminPage />}</RequireRole>} />
                <Route
                  path="/admin/accounts"
                  element={<RequireRole roles={['Admin']}>{(user) => <AdminAccountsPage user={user} />}</RequireRole>}
                />
                <Route path="/admin/api-clients" element={<RequireRole roles={['Admin']}>{() => <AdminApiClientsPage />}</RequireRole>} />
                <Route path="/admin/audit" element={<RequireRole roles={['Admin']}>{() => <AdminAuditPage />}</RequireRole>} />
                <Route path="/admin/operations" element={<RequireRole roles={['Admin']}>{() => <AdminOperationsPage />}</RequireRole>} />
                <Route path="*" element={<NotFoundPage />} />
              </Routes>
            </Suspense>
          </Box>
        </AppShell.Main>
      </AppShell>
    </>
  );
}
