import { HashRouter, Navigate, Route, Routes } from 'react-router';
import { ApiProvider } from './lib/api';
import { AccountsProvider } from './lib/accounts';
import { LiveProvider } from './lib/live';
import { Header } from './components/Header';
import { LivePage } from './pages/LivePage';
import { TaskPage } from './pages/TaskPage';
import { ModelsPage } from './pages/ModelsPage';
import { ValidatorsPage } from './pages/ValidatorsPage';
import { RequestPage } from './pages/RequestPage';

export function App() {
  return (
    <ApiProvider>
      <AccountsProvider>
        <LiveProvider>
          <HashRouter>
            <Header />
            <main>
              <Routes>
                <Route path="/" element={<LivePage />} />
                <Route path="/live" element={<LivePage />} />
                <Route path="/task/:id" element={<TaskPage />} />
                <Route path="/task" element={<TaskPage />} />
                <Route path="/models" element={<ModelsPage />} />
                <Route path="/validators" element={<ValidatorsPage />} />
                <Route path="/request" element={<RequestPage />} />
                <Route path="*" element={<Navigate to="/live" replace />} />
              </Routes>
            </main>
          </HashRouter>
        </LiveProvider>
      </AccountsProvider>
    </ApiProvider>
  );
}
