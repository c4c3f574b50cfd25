import { AppShell, Box } from '@mantine/core';
import { Route, Routes } from 'react-router';
import { RedirectHome, RequireRole } from './auth';
import { AppHeader } from './components/AppHeader';
import { ToastProvider } from './notifications/toasts';
import { AdminPage } from './pages/AdminPage';
import { DashboardPage } from './pages/DashboardPage';
import { LoginPage } from './pages/LoginPage';
import { MePage } from './pages/MePage';
import { NotFoundPage } from './pages/NotFoundPage';
import { PatientPage } from './pages/PatientPage';
import { RegisterPage } from './pages/RegisterPage';

export function App() {
  return (
    <ToastProvider>
      <AppShell header={{ height: 60 }} padding="md">
        <a className="skip-link" href="#main">
          Skip to content
        </a>
        <AppHeader />
        <AppShell.Main>
          <Box id="main" tabIndex={-1} maw={1200} mx="auto" py="md">
            <Routes>
              <Route path="/" element={<RedirectHome />} />
              <Route path="/login" element={<LoginPage />} />
              <Route path="/register" element={<RegisterPage />} />
              <Route path="/me" element={<RequireRole roles={['Patient']}>{(user) => <MePage user={user} />}</RequireRole>} />
              <Route
                path="/dashboard"
                element={<RequireRole roles={['Provider', 'Admin']}>{(user) => <DashboardPage user={user} />}</RequireRole>}
              />
              <Route
                path="/patients/:id"
                element={<RequireRole roles={['Provider', 'Admin', 'Patient']}>{() => <PatientPage />}</RequireRole>}
              />
              <Route path="/admin" element={<RequireRole roles={['Admin']}>{() => <AdminPage />}</RequireRole>} />
              <Route path="*" element={<NotFoundPage />} />
            </Routes>
          </Box>
        </AppShell.Main>
      </AppShell>
    </ToastProvider>
  );
}
