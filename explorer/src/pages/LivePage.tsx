// #/live (home) — new and finalized blocks, tasks moving through their phases as blocks arrive,
// and two charts over the last hour (read back from the tasks the chain keeps, then live).

import { Link } from 'react-router';
import { Bar, Line } from 'react-chartjs-2';
import '../components/charts';
import { useApi } from '../lib/api';
import { useLive } from '../lib/live';
import { perMinute } from '../lib/stats';
import { NeedsApi } from '../components/common';

export function LivePage() {
  const { state } = useApi();
  const { best, finalized, tasks, settlements } = useLive();
  const now = Date.now();
  const recent = settlements.filter((s) => s.time > now - 3_600_000);
  const { labels, counts } = perMinute(recent.map((s) => s.time), now);
  const latencies = recent.filter((s) => s.latency !== null);
  return (
    <section>
      <h2>Live</h2>
      <div className="blocks">
        <div>best block <b data-testid="best-block">{best ?? ''}</b></div>
        <div>finalized <b data-testid="finalized-block">{finalized ?? ''}</b></div>
        {state !== 'connected' && <div className="muted">({state})</div>}
      </div>
      <NeedsApi>
        <div className="charts">
          <div data-testid="chart-settled" className="chart-box" data-settled={recent.length}>
            <h4>Settled tasks per minute (last hour)</h4>
            <Bar data={{ labels, datasets: [{ label: 'settled', data: counts, backgroundColor: '#2b7a3d' }] }}
              options={{ responsive: true, maintainAspectRatio: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }} />
          </div>
          <div data-testid="chart-latency" className="chart-box" data-points={latencies.length}>
            <h4>Request → settlement, in blocks</h4>
            <Line data={{ labels: latencies.map((s) => `#${s.id}`), datasets: [{ label: 'blocks', data: latencies.map((s) => s.latency), borderColor: '#7a4ca5', backgroundColor: '#7a4ca5' }] }}
              options={{ responsive: true, maintainAspectRatio: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }} />
          </div>
        </div>
        <h3>Recent tasks</h3>
        {tasks.length === 0 ? <p className="muted">No task kept on chain and none since this page connected. Request one on the <Link to="/request">Request</Link> page.</p> : (
          <table className="grid">
            <thead><tr><th>task</th><th>status</th><th>requested in</th><th>last event</th><th>at block</th></tr></thead>
            <tbody>
              {tasks.map((t) => (
                <tr key={t.id} data-testid="live-task" data-task-id={t.id} data-status={t.status}>
                  <td><Link to={`/task/${t.id}`}>{t.id}</Link></td>
                  <td><span className={`pill ${t.status.toLowerCase()}`}>{t.status}</span></td>
                  <td>{t.createdAt ?? '–'}</td>
                  <td>{t.lastEvent}</td>
                  <td>{t.updatedAt}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </NeedsApi>
    </section>
  );
}
