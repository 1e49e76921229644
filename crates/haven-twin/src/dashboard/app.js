// haven's dashboard: polls the dashboard's /api every two seconds and draws the twin: regions,
// AZs, services, tasks, live metric charts (inline SVG), alarms, pipeline runs with Approve and
// Reject, drill runs with links to their reports, releases and scaling activities. Vanilla JS, nothing loaded from elsewhere.
'use strict';

(function () {
  const REFRESH_MS = 2000;
  // Charts show the last five minutes at five-second periods.
  const CHART_SINCE = '5m';
  const CHART_PERIOD = '5s';
  const CHART_SPAN_MS = 5 * 60 * 1000;
  const TOKEN_KEY = 'haven-control-token';
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const state = {
    status: null,
    alarms: null,
    releases: null,
    runs: null,
    drills: null,
    series: new Map(),
    errors: [],
    refreshes: 0,
  };

  const $ = (id) => document.getElementById(id);

  // Elements are built node by node (never from HTML strings), so no value from the twin can
  // inject markup.
  function build(ns, tag, attrs, children) {
    const el = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    const add = (c) => {
      if (c === null || c === undefined || c === false) return;
      if (Array.isArray(c)) c.forEach(add);
      else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    };
    add(children);
    return el;
  }
  const h = (tag, attrs, ...children) => build(null, tag, attrs, children);
  const s = (tag, attrs, ...children) => build(SVG_NS, tag, attrs, children);

  async function getJSON(url) {
    const r = await fetch(url, { cache: 'no-store' });
    let body = null;
    try {
      body = await r.json();
    } catch (e) {
      body = null;
    }
    if (!r.ok) throw new Error((body && body.error) || `${url}: HTTP ${r.status}`);
    return body;
  }

  // Formatting ---------------------------------------------------------------------------------

  const pad = (n) => String(n).padStart(2, '0');
  function clock(ms) {
    if (!ms && ms !== 0) return '';
    const d = new Date(ms);
    return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}Z`;
  }
  function dateTime(ms) {
    if (!ms) return '';
    const d = new Date(ms);
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${clock(ms)}`;
  }
  function num(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return '-';
    const d = digits === undefined ? (Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2) : digits;
    return Number(v).toFixed(d).replace(/\.0+$|(\.\d*[1-9])0+$/, '$1');
  }
  function percent(v) {
    return v === null || v === undefined ? '-' : `${num(v, 1)}%`;
  }
  function shortImage(image) {
    if (!image) return '';
    // A digest's first 12 hex digits, as `docker images` shows it; the cell's title has it all.
    const m = /sha256:([0-9a-f]{12})/.exec(image);
    return m ? m[1] : image;
  }
  const HEALTH = { healthy: 'good', unhealthy: 'bad', draining: 'warn', initial: 'warn' };
  const ALARM = { OK: 'good', ALARM: 'bad', INSUFFICIENT_DATA: 'warn' };
  const RUN = {
    Succeeded: 'good', Failed: 'bad', InProgress: 'warn', Stopped: 'muted', Superseded: 'muted',
    Pending: 'muted',
  };
  const RELEASE = { SUCCESSFUL: 'good', ROLLED_BACK: 'bad', IN_PROGRESS: 'warn' };
  const COMPARE = {
    GreaterThanThreshold: '>',
    GreaterThanOrEqualToThreshold: '>=',
    LessThanThreshold: '<',
    LessThanOrEqualToThreshold: '<=',
  };
  // States are words; the colour only repeats them.
  const word = (text, tone, testid) =>
    h('span', { class: `word ${tone || ''}`, 'data-testid': testid }, text);

  // Charts -------------------------------------------------------------------------------------

  function chartDefs(svc) {
    const ecs = (svc.metric_dims && svc.metric_dims.ecs) || {};
    const alb = (svc.metric_dims && svc.metric_dims.alb) || {};
    return [
      {
        id: 'cpu-memory', title: 'CPU and memory', unit: '%', max: 100,
        namespace: 'AWS/ECS', dims: ecs,
        series: [
          { metric: 'CPUUtilization', stat: 'Average', label: 'CPU' },
          { metric: 'MemoryUtilization', stat: 'Average', label: 'memory' },
        ],
      },
      {
        id: 'requests', title: 'Requests per period', unit: '',
        namespace: 'AWS/ApplicationELB', dims: alb,
        series: [{ metric: 'RequestCount', stat: 'Sum', label: 'requests' }],
      },
      {
        id: 'target-5xx', title: 'Target 5XX responses', unit: '',
        namespace: 'AWS/ApplicationELB', dims: alb,
        series: [{ metric: 'HTTPCode_Target_5XX_Count', stat: 'Sum', label: '5XX' }],
      },
      {
        id: 'response-time', title: 'Target response time', unit: 'ms', scale: 1000,
        namespace: 'AWS/ApplicationELB', dims: alb,
        series: [{ metric: 'TargetResponseTime', stat: 'Average', label: 'average' }],
      },
      {
        id: 'hosts', title: 'Healthy and unhealthy hosts', unit: '',
        namespace: 'AWS/ApplicationELB', dims: alb,
        series: [
          { metric: 'HealthyHostCount', stat: 'Minimum', label: 'healthy' },
          { metric: 'UnHealthyHostCount', stat: 'Maximum', label: 'unhealthy' },
        ],
      },
    ];
  }

  const seriesKey = (region, svc, series) => `${region}|${svc}|${series.metric}|${series.stat}`;

  async function fetchSeries(region, svc, def, series) {
    const q = new URLSearchParams({
      region, namespace: def.namespace, metric: series.metric, stat: series.stat,
      period: CHART_PERIOD, since: CHART_SINCE,
    });
    for (const [k, v] of Object.entries(def.dims)) q.append('dim', `${k}=${v}`);
    const key = seriesKey(region, svc.name, series);
    try {
      const body = await getJSON(`/api/metrics?${q}`);
      state.series.set(key, (body.Datapoints || [])
        .map((p) => ({ t: Date.parse(p.Timestamp), v: p[series.stat] }))
        .filter((p) => Number.isFinite(p.t) && Number.isFinite(p.v)));
    } catch (e) {
      state.series.set(key, []);
    }
  }

  function refreshMetrics() {
    const jobs = [];
    for (const r of (state.status && state.status.regions) || []) {
      for (const svc of r.services || []) {
        for (const def of chartDefs(svc)) {
          for (const series of def.series) jobs.push(fetchSeries(r.name, svc, def, series));
        }
      }
    }
    return Promise.all(jobs);
  }

  function chart(region, svc, def) {
    const W = 320, H = 130, L = 40, R = 8, T = 10, B = 20;
    const data = def.series.map((series) =>
      (state.series.get(seriesKey(region, svc.name, series)) || [])
        .map((p) => ({ t: p.t, v: p.v * (def.scale || 1) })));
    const all = data.flat();
    // Time runs to the newest datapoint the twin has, not this browser's clock.
    const tMax = all.length ? Math.max(...all.map((p) => p.t)) : 0;
    const tMin = tMax - CHART_SPAN_MS;
    const top = Math.max(def.max || 0, ...all.map((p) => p.v), 1);
    const yMax = def.max && top <= def.max ? def.max : niceCeil(top);
    const x = (t) => L + ((t - tMin) / CHART_SPAN_MS) * (W - L - R);
    const y = (v) => T + (1 - v / yMax) * (H - T - B);
    const kids = [
      s('title', {}, `${def.title} of ${svc.name} in ${region}`),
      s('rect', { class: 'plot', x: L, y: T, width: W - L - R, height: H - T - B }),
      s('line', { class: 'grid', x1: L, x2: W - R, y1: y(yMax / 2), y2: y(yMax / 2) }),
      s('text', { class: 'axis', x: L - 4, y: T + 8, 'text-anchor': 'end' }, num(yMax)),
      s('text', { class: 'axis', x: L - 4, y: H - B, 'text-anchor': 'end' }, '0'),
      s('text', { class: 'axis', x: L, y: H - 4 }, '-5 min'),
      s('text', { class: 'axis', x: W - R, y: H - 4, 'text-anchor': 'end' },
        tMax ? clock(tMax) : ''),
    ];
    if (!all.length) {
      kids.push(s('text', { class: 'nodata', x: (W + L) / 2, y: H / 2, 'text-anchor': 'middle' },
        'no data yet'));
    }
    data.forEach((points, i) => {
      const visible = points.filter((p) => p.t >= tMin);
      if (!visible.length) return;
      kids.push(s('polyline', {
        class: `line s${i}`,
        'data-series': def.series[i].metric,
        'data-points': visible.length,
        points: visible.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' '),
      }));
      for (const p of visible) {
        kids.push(s('circle', {
          class: `dot s${i}`, cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: 1.8,
        }));
      }
    });
    const svg = s('svg', {
      viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': def.title,
      'data-testid': 'chart-svg', 'data-points': all.filter((p) => p.t >= tMin).length,
    }, kids);
    const legend = h('ul', { class: 'legend', 'data-testid': 'chart-legend' },
      def.series.map((series, i) => {
        const last = data[i][data[i].length - 1];
        return h('li', {},
          h('span', { class: `swatch s${i}`, 'aria-hidden': 'true' }),
          `${series.label} `,
          h('b', {}, last ? `${num(last.v)}${def.unit ? ` ${def.unit}` : ''}` : '-'),
          h('span', { class: 'stat' }, ` ${series.metric} (${series.stat})`));
      }));
    return h('figure', {
      class: 'chart', 'data-testid': 'chart', 'data-chart': def.id, 'data-region': region,
      'data-service': svc.name,
    }, h('figcaption', {}, def.title), svg, legend);
  }

  function niceCeil(v) {
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  // Sections -----------------------------------------------------------------------------------

  function renderHeader() {
    const st = state.status;
    if (!st) return;
    document.querySelector('[data-testid="project"]').textContent = st.project;
    document.title = `${st.project}: haven dashboard`;
    const a = document.querySelector('[data-testid="edge-url"]');
    a.textContent = st.edge.url;
    a.setAttribute('href', st.edge.url);
    document.querySelector('[data-testid="edge-mode"]').textContent = st.edge.mode;
    document.querySelector('[data-testid="serving"]').textContent =
      st.edge.serving_regions.length ? st.edge.serving_regions.join(', ') : 'no region';
    $('token-path').textContent = `${st.state_dir}/token`;
  }

  function renderRegion(r) {
    const tasks = (r.services || []).flatMap((svc) => svc.tasks.map((t) => ({ t, svc })));
    const azs = r.azs && r.azs.length ? r.azs : [...new Set(tasks.map((x) => x.t.az))];
    return h('article', {
      class: `region ${r.healthy ? 'healthy' : 'unhealthy'}`, 'data-testid': 'region',
      'data-region': r.name, 'data-state': r.state, 'data-healthy': String(r.healthy),
    },
    h('h2', {},
      h('span', { class: 'name' }, r.name), ' ',
      word(r.role, 'muted', 'region-role'), ' ',
      word(r.state, r.state === 'running' ? 'good' : 'bad', 'region-state'), ' ',
      word(r.healthy ? 'healthy' : 'unhealthy', r.healthy ? 'good' : 'bad', 'region-health')),
    h('p', { class: 'links' },
      r.pid ? `pid ${r.pid} · ` : '',
      'ALB ', r.alb_url ? h('a', { href: r.alb_url }, r.alb_url) : '-',
      r.metrics_url ? [' · ', h('a', { href: r.metrics_url }, 'Prometheus /metrics')] : ''),
    h('ul', { class: 'azs', 'aria-label': `Availability zones of ${r.name}` },
      azs.map((az) => {
        const impaired = (r.impaired_azs || []).includes(az);
        const count = tasks.filter((x) => x.t.az === az).length;
        return h('li', {
          class: `az ${impaired ? 'impaired' : ''}`, 'data-testid': 'az', 'data-az': az,
          'data-impaired': String(impaired),
        }, h('b', {}, az), ` ${count} task${count === 1 ? '' : 's'}`,
        impaired ? [' ', word('impaired', 'bad')] : '');
      })),
    r.services && r.services.length ? [
      h('h3', {}, 'Services'),
      h('div', { class: 'scroll' }, servicesTable(r)),
      h('h3', {}, 'Tasks'),
      h('div', { class: 'scroll' }, tasksTable(tasks)),
      h('h3', {}, 'Metrics'),
      r.services.map((svc) => h('div', { class: 'service-charts', 'data-service': svc.name },
        h('h4', {}, svc.name),
        h('div', { class: 'charts' }, chartDefs(svc).map((def) => chart(r.name, svc, def))))),
    ] : h('p', { class: 'muted' }, `${r.name} is ${r.state}: no services to show`));
  }

  function servicesTable(r) {
    return h('table', { class: 'services' },
      h('thead', {}, h('tr', {}, ['Service', 'State', 'Image', 'Desired', 'Running', 'Healthy',
        'CPU', 'Memory', 'Min-max'].map((c) => h('th', {}, c)))),
      h('tbody', {}, r.services.map((svc) => [
        h('tr', {
          'data-testid': 'service', 'data-service': svc.name, 'data-desired': svc.desired,
          'data-running': svc.running, 'data-healthy': svc.healthy,
        },
        h('td', { title: svc.environment },
          svc.alb_url ? h('a', { href: svc.alb_url }, svc.name) : svc.name),
        h('td', {}, word(svc.state, svc.state === 'ACTIVE' ? 'good' : 'bad')),
        h('td', { class: 'mono', title: svc.image }, shortImage(svc.image)),
        h('td', { class: 'n' }, svc.desired),
        h('td', { class: 'n' }, svc.running),
        h('td', { class: 'n' }, word(`${svc.healthy}/${svc.desired}`,
          svc.healthy >= svc.desired ? 'good' : 'bad', 'service-healthy')),
        h('td', { class: 'n' }, percent(svc.cpu_percent)),
        h('td', { class: 'n' }, percent(svc.memory_percent)),
        h('td', { class: 'n' }, `${svc.min}-${svc.max}`)),
        svc.failure ? h('tr', { class: 'failure' },
          h('td', { colspan: 9 }, word('FAILED', 'bad'), ` ${svc.failure}`)) : null,
      ])));
  }

  function tasksTable(tasks) {
    if (!tasks.length) return h('p', { class: 'muted' }, 'no tasks');
    // Narrow enough for two regions side by side: the service by its environment, ECS's
    // status only when the task is not simply RUNNING.
    return h('table', { class: 'tasks' },
      h('thead', {}, h('tr', {}, ['Task', 'Env', 'AZ', 'PID', 'Health', 'Image', 'Task set',
        'CPU / mem'].map((c) => h('th', {}, c)))),
      h('tbody', {}, tasks.map(({ t, svc }) => h('tr', {
        'data-testid': 'task', 'data-task': t.id, 'data-az': t.az, 'data-health': t.health,
        'data-status': t.status,
      },
      h('td', { class: 'mono', title: t.id }, t.id.slice(0, 12)),
      h('td', { title: svc.name }, svc.environment),
      h('td', {}, t.az),
      h('td', { class: 'n' }, t.pid || '-'),
      h('td', {}, word(t.health, HEALTH[t.health], 'task-health'),
        t.status && t.status !== 'RUNNING' ? ` ${t.status}` : ''),
      h('td', { class: 'mono', title: t.image }, shortImage(t.image)),
      h('td', { class: 'mono', title: t.task_set }, (t.task_set || '').slice(0, 9)),
      h('td', { class: 'n' }, `${percent(t.cpu_percent)} / ${percent(t.memory_percent)}`)))));
  }

  function unavailable(list) {
    return (list || []).map((u) => h('p', { class: 'muted', 'data-testid': 'unavailable' },
      `${u.region}: ${u.error}`));
  }

  function renderAlarms() {
    const box = $('alarms');
    if (!state.alarms) return;
    const alarms = state.alarms.alarms || [];
    box.replaceChildren(
      alarms.length ? h('table', { class: 'alarms' },
        h('thead', {}, h('tr', {}, ['Alarm', 'Region', 'State', 'Metric', 'Condition', 'Updated',
          'Reason'].map((c) => h('th', {}, c)))),
        h('tbody', {}, alarms.map((a) => h('tr', {
          'data-testid': 'alarm', 'data-alarm': a.name, 'data-region': a.region,
          'data-state': a.state,
        },
        h('td', {}, a.name),
        h('td', { class: 'nowrap' }, a.region),
        h('td', {}, word(a.state, ALARM[a.state], 'alarm-state')),
        h('td', {}, `${a.namespace} ${a.metric}`),
        h('td', { class: 'mono nowrap' },
          `${a.statistic} ${COMPARE[a.comparison] || a.comparison} ${a.threshold}` +
          (a.period_seconds ? ` per ${a.period_seconds} s` : '')),
        h('td', {}, a.updated_at ? clock(Date.parse(a.updated_at)) : ''),
        h('td', { class: 'reason' }, a.reason))))) :
        h('p', { class: 'muted', 'data-testid': 'no-alarms' }, 'no alarms'),
      ...unavailable(state.alarms.unavailable));
  }

  // As CodePipeline: a run in progress whose Approval stage is in progress waits for a person.
  function awaitingApproval(run) {
    return run.status === 'InProgress' &&
      (run.stages || []).some((st) => st.name === 'Approval' && st.status === 'InProgress');
  }

  function renderRuns() {
    const box = $('runs');
    if (!state.runs) return;
    if (!state.runs.length) {
      box.replaceChildren(h('p', { class: 'muted', 'data-testid': 'no-pipeline-runs' },
        'no pipeline runs'));
      return;
    }
    box.replaceChildren(h('table', { class: 'runs' },
      h('thead', {}, h('tr', {}, ['Run', 'Commit', 'Status', 'Started', 'Stages', 'Message', '']
        .map((c) => h('th', {}, c)))),
      h('tbody', {}, state.runs.map((run) => h('tr', {
        'data-testid': 'pipeline-run', 'data-run': run.id, 'data-status': run.status,
        'data-awaiting-approval': String(awaitingApproval(run)),
      },
      h('td', { class: 'mono' }, run.id),
      h('td', { class: 'mono', title: run.commit }, (run.commit || '').slice(0, 10)),
      h('td', {}, word(run.status, RUN[run.status], 'run-status')),
      h('td', {}, dateTime(run.started_at_ms)),
      h('td', {}, h('ol', { class: 'stages' }, (run.stages || []).map((st) => h('li', {
        'data-testid': 'stage', 'data-stage': st.name, 'data-status': st.status,
        title: st.message || '',
      }, `${st.name}: `, word(awaitingApproval(run) && st.name === 'Approval' ?
        'awaiting approval' : st.status, RUN[st.status]))))),
      h('td', { class: 'reason' }, run.message || ''),
      h('td', { class: 'actions' }, awaitingApproval(run) ? [
        h('button', {
          type: 'button', class: 'approve', 'data-testid': 'approve', 'data-run': run.id,
          onclick: (e) => decide(run, 'approve', e.currentTarget),
        }, 'Approve'), ' ',
        h('button', {
          type: 'button', class: 'reject', 'data-testid': 'reject', 'data-run': run.id,
          onclick: (e) => decide(run, 'reject', e.currentTarget),
        }, 'Reject'),
      ] : ''))))));
  }

  function renderDrills() {
    const box = $('drills');
    if (!state.drills) return;
    if (!state.drills.length) {
      box.replaceChildren(h('p', { class: 'muted', 'data-testid': 'no-drill-runs' },
        'no drill runs yet: haven drill run SCENARIO runs one'));
      return;
    }
    box.replaceChildren(h('table', { class: 'drills' },
      h('thead', {}, h('tr', {}, ['Run', 'Started', 'Scenarios', 'Result', 'Report']
        .map((c) => h('th', {}, c)))),
      h('tbody', {}, state.drills.slice(0, 50).map((run) => h('tr', {
        'data-testid': 'drill-run', 'data-run': run.id,
        'data-passed': run.error ? null : String(run.passed),
      },
      h('td', { class: 'mono' }, run.id),
      h('td', { class: 'nowrap' }, run.started_at ? dateTime(Date.parse(run.started_at)) : ''),
      h('td', {}, run.error ? h('span', { class: 'reason' }, run.error) :
        (run.drills || []).map((d, i) => [i ? ' ' : '', h('span', {
          class: `word ${d.passed ? 'good' : 'bad'}`, title: d.target,
          'data-testid': 'drill-scenario', 'data-passed': String(d.passed),
        }, d.scenario)])),
      h('td', {}, run.error ? word('unreadable', 'warn', 'drill-result') :
        word(run.passed ? 'PASSED' : 'MISSED', run.passed ? 'good' : 'bad', 'drill-result')),
      h('td', { class: 'nowrap' }, run.error ? '' : [
        h('a', { href: run.report_html, 'data-testid': 'drill-report' }, 'report'), ' · ',
        h('a', { href: run.report_json }, 'JSON'),
      ]))))));
  }

  function renderReleases() {
    const box = $('releases');
    if (!state.releases) return;
    const list = state.releases.releases || [];
    box.replaceChildren(
      list.length ? h('table', { class: 'releases' },
        h('thead', {}, h('tr', {}, ['Release', 'Region', 'Service', 'From', 'To', 'Strategy',
          'State', 'Started', 'Ended', 'Reason'].map((c) => h('th', {}, c)))),
        h('tbody', {}, list.slice(0, 50).map((r) => h('tr', {
          'data-testid': 'release', 'data-release': r.id, 'data-state': r.state,
        },
        h('td', { class: 'mono' }, r.id),
        h('td', {}, r.region),
        h('td', {}, r.service),
        h('td', { class: 'mono', title: r.from_image }, shortImage(r.from_image)),
        h('td', { class: 'mono', title: r.to_image }, shortImage(r.to_image)),
        h('td', {}, r.strategy),
        h('td', {}, word(r.state, RELEASE[r.state], 'release-state')),
        h('td', {}, dateTime(r.started_at_ms)),
        h('td', {}, dateTime(r.ended_at_ms)),
        h('td', { class: 'reason' }, r.reason || ''))))) :
        h('p', { class: 'muted', 'data-testid': 'no-releases' }, 'no releases yet'),
      ...unavailable(state.releases.unavailable));
  }

  function renderScaling() {
    const st = state.status;
    if (!st) return;
    const list = st.regions.flatMap((r) => (r.services || []).flatMap((svc) =>
      (svc.scaling_activities || []).map((a) => ({ ...a, region: r.name, service: svc.name }))));
    list.sort((a, b) => b.at_ms - a.at_ms);
    $('scaling').replaceChildren(list.length ? h('table', { class: 'scaling' },
      h('thead', {}, h('tr', {}, ['Time', 'Region', 'Service', 'Desired', 'Cause']
        .map((c) => h('th', {}, c)))),
      h('tbody', {}, list.slice(0, 50).map((a) => h('tr', { 'data-testid': 'scaling-activity' },
        h('td', {}, dateTime(a.at_ms)),
        h('td', {}, a.region),
        h('td', {}, a.service),
        h('td', { class: 'n' }, `${a.from} → ${a.to}`),
        h('td', { class: 'reason' }, a.cause))))) :
      h('p', { class: 'muted', 'data-testid': 'no-scaling-activities' }, 'no scaling activities'));
  }

  function render() {
    renderHeader();
    if (state.status) {
      $('regions').replaceChildren(...state.status.regions.map(renderRegion));
    }
    renderAlarms();
    renderRuns();
    renderDrills();
    renderReleases();
    renderScaling();
    const err = $('error');
    err.hidden = !state.errors.length;
    err.textContent = state.errors.join('; ');
    const conn = document.querySelector('[data-testid="connection"]');
    conn.textContent = state.errors.length ? 'errors' : 'live';
    conn.className = `live ${state.errors.length ? 'bad' : 'good'}`;
    document.querySelector('[data-testid="updated"]').textContent = clock(Date.now());
    renderToken();
  }

  // Writes -------------------------------------------------------------------------------------

  function message(text, tone) {
    const m = $('pipeline-message');
    m.hidden = !text;
    m.textContent = text || '';
    m.className = `message ${tone || ''}`;
  }

  function renderToken() {
    const given = !!sessionStorage.getItem(TOKEN_KEY);
    document.querySelector('[data-testid="token-state"]').textContent =
      given ? 'given (this tab)' : 'not given';
    $('token-forget').disabled = !given;
  }

  function askToken() {
    const dialog = $('token-dialog');
    const input = $('token-input');
    input.value = '';
    return new Promise((resolve) => {
      const done = (value) => {
        $('token-ok').onclick = null;
        $('token-cancel').onclick = null;
        input.onkeydown = null;
        dialog.onclose = null;
        if (dialog.open) dialog.close();
        const token = (value || '').trim();
        if (token) sessionStorage.setItem(TOKEN_KEY, token);
        renderToken();
        resolve(token || null);
      };
      $('token-ok').onclick = () => done(input.value);
      $('token-cancel').onclick = () => done(null);
      input.onkeydown = (e) => { if (e.key === 'Enter') done(input.value); };
      dialog.onclose = () => done(null);
      dialog.showModal();
      input.focus();
    });
  }

  async function decide(run, action, button) {
    let token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) token = await askToken();
    if (!token) {
      message(`No control token given: run ${run.id} was not ${action}d.`, 'warn');
      return;
    }
    button.disabled = true;
    try {
      const r = await fetch(`/api/pipeline/runs/${encodeURIComponent(run.id)}/${action}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ comment: $('comment').value }),
      });
      let body = null;
      try {
        body = await r.json();
      } catch (e) {
        body = null;
      }
      const why = (body && body.error) || `HTTP ${r.status}`;
      if (r.status === 401) {
        // A refused token is forgotten so that the next click asks again.
        sessionStorage.removeItem(TOKEN_KEY);
        message(`The control token was refused (401): ${why}`, 'bad');
      } else if (!r.ok) {
        message(`Could not ${action} run ${run.id}: ${why}`, 'bad');
      } else {
        message(`Run ${run.id}: ${action === 'approve' ? 'approved' : 'rejected'}.`, 'good');
        $('comment').value = '';
      }
    } catch (e) {
      message(`Could not ${action} run ${run.id}: ${e.message}`, 'bad');
    } finally {
      button.disabled = false;
      renderToken();
    }
    refresh();
  }

  // The loop -----------------------------------------------------------------------------------

  let running = null;
  function refresh() {
    if (!running) {
      running = refreshOnce().finally(() => { running = null; });
    }
    return running;
  }

  async function refreshOnce() {
    const names = ['status', 'alarms', 'releases', 'runs', 'drills'];
    const results = await Promise.allSettled([
      getJSON('/api/status'), getJSON('/api/alarms'), getJSON('/api/releases'),
      getJSON('/api/pipeline/runs'), getJSON('/api/drills'),
    ]);
    state.errors = [];
    results.forEach((res, i) => {
      if (res.status === 'fulfilled') state[names[i]] = res.value;
      else state.errors.push(`${names[i]}: ${res.reason.message}`);
    });
    if (state.status) await refreshMetrics();
    render();
    state.refreshes += 1;
    document.body.dataset.refreshes = String(state.refreshes);
    if (state.status) document.body.dataset.ready = '1';
  }

  function loop() {
    refresh().finally(() => setTimeout(loop, REFRESH_MS));
  }

  $('token-set').addEventListener('click', () => askToken());
  $('token-forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    renderToken();
  });
  renderToken();
  loop();
})();
