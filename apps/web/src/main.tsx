import '@mantine/core/styles.css';
import '@mantine/notifications/styles.css';
import './styles.css';
import { createTheme, MantineProvider } from '@mantine/core';
import { QueryClientProvider } from '@tanstack/react-query';
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import { App } from './App';
import { SessionSignalsProvider } from './session/SessionGuard';
import { SessionSignals } from './session/signals';
import { createQueryClient, createTrpcClient, TRPCProvider } from './trpc';

const theme = createTheme({
  primaryColor: 'blue',
  primaryShade: 8,
  defaultRadius: 'md',
  fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
  headings: { fontWeight: '600' },
  focusRing: 'auto',
});

function Root() {
  const [queryClient] = useState(createQueryClient);
  const [signals] = useState(() => new SessionSignals());
  const [trpcClient] = useState(() => createTrpcClient(signals));
  return (
    <QueryClientProvider client={queryClient}>
      <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
        <SessionSignalsProvider value={signals}>
          <MantineProvider theme={theme} defaultColorScheme="light">
            <BrowserRouter>
              <App />
            </BrowserRouter>
          </MantineProvider>
        </SessionSignalsProvider>
      </TRPCProvider>
    </QueryClientProvider>
  );
}

const container = document.getElementById('root');
if (!container) throw new Error('index.html has no #root element');
createRoot(container).render(
  <StrictMode>
    <Root />
  </StrictMode>,
);
