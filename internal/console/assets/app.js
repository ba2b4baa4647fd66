// The operators' console. No framework: a hash router, fetch and a tiny
// element builder (text only, never innerHTML, so data cannot inject markup).
'use strict';

const T = {
  zh: {
    'brand': '12123 短信网关运维控制台', 'nav.overview': '总览', 'nav.playground': '规则试验台', 'nav.trace': '消息追踪',
    'nav.held': '待审消息', 'nav.deadletters': '死信', 'nav.audit': '审计', 'logout': '退出',
    'login.title': '登录', 'login.user': '用户名', 'login.password': '密码', 'login.submit': '登录', 'login.failed': '用户名或密码错误',
    'ov.title': '总览', 'ov.carrier': '运营商', 'ov.binds': '绑定', 'ov.tps': 'TPS（当前/配置）', 'ov.window': '窗口占用',
    'ov.inflight': '在途', 'ov.unsent': '未被接受', 'ov.submitted': '已提交', 'ov.receipts': '回执', 'ov.delivered': '成功', 'ov.queue': '队列（按状态）',
    'ov.lag': '消费积压（按主题）', 'ov.rules': '规则集', 'ov.loaded': '加载于', 'ov.alerts': '告警', 'ov.noalerts': '无告警',
    'ov.submitrate': '提交/秒', 'ov.receiptrate': '回执/秒', 'ov.deliveryrate': '成功率', 'ov.latency': '提交时延 ms', 'ov.receiptlat': '回执时延 s',
    'ov.events': '已消费事件', 'ov.dlq': '死信', 'ov.ready': '就绪状态', 'ov.held': '待审',
    'pg.title': '规则试验台', 'pg.event': '事件（JSON）', 'pg.sample': '示例事件', 'pg.now': '评估时间', 'pg.run': '试算',
    'pg.file': '规则文件', 'pg.useedit': '使用编辑后的文件试算', 'pg.save': '保存并热加载', 'pg.fired': '触发',
    'pg.skipped': '跳过', 'pg.nomatch': '未匹配', 'pg.cancels': '撤销', 'pg.parts': '条', 'pg.encoding': '编码',
    'pg.chars': '计费字符', 'pg.notbefore': '发送时间', 'pg.deferred': '推迟原因', 'pg.policy': '策略结果',
    'pg.inhibits': '抑制', 'pg.pending': '将撤销的待发提醒',
    'pol.opted_out': '接收人已退订', 'pol.duplicate': '相同去重键的消息已在该规则的去重窗口内发给此人',
    'pol.daily_cap': '此人今日的消息数已达上限（caps.per_recipient_per_day；紧急规则不受限）',
    'pol.weekly_cap': '此人近 7 天的消息数已达上限（caps.per_recipient_per_week；紧急规则不受限）',
    'pol.invalid_recipient': '接收人不是手机号', 'pol.inhibited': '{rule} 针对同一人同一事由触发，只发送更严重的提醒',
    'pg.form': '按字段编辑', 'pg.type': '事件类型',
    'pg.recipient': '接收人', 'pg.saved': '已保存，规则集', 'pg.refused': '规则无法加载，未保存', 'pg.stilldue': '发送前复核',
    'tr.title': '消息追踪', 'tr.phone': '手机号', 'tr.plate': '号牌', 'tr.licence': '驾驶证号', 'tr.event': '事件 ID',
    'tr.search': '查询', 'tr.unmask': '显示完整信息（将记录审计）', 'tr.masked': '已脱敏', 'tr.unmasked': '未脱敏（已记录审计）',
    'tr.none': '没有记录', 'tr.at': '时间', 'tr.kind': '类型', 'tr.msg': '消息', 'tr.detail': '详情',
    'held.title': '待审消息', 'held.release': '放行', 'held.drop': '丢弃', 'held.note': '备注', 'held.reason': '原因',
    'held.text': '内容', 'held.none': '没有待审消息', 'held.byreason': '按原因批量', 'held.selected': '所选',
    'held.done': '已处理', 'dl.title': '死信', 'dl.reason': '原因', 'dl.count': '数量', 'dl.replay': '重放',
    'dl.read': '已读取', 'dl.none': '没有死信', 'dl.replayed': '已重放到',
    'au.title': '审计', 'au.at': '时间', 'au.who': '操作人', 'au.role': '角色', 'au.action': '操作', 'au.target': '对象',
    'au.detail': '详情', 'au.remote': '来源', 'au.more': '更多', 'forbidden': '无权限', 'error': '错误',
    'nav.advisories': '预警发送', 'adv.title': '进行中的预警', 'adv.event': '事件', 'adv.rule': '规则', 'adv.audience': '受众',
    'adv.sent': '已发送', 'adv.delivered': '已送达', 'adv.failed': '失败', 'adv.pending': '待发', 'adv.held': '待审',
    'adv.cancelled': '已撤销', 'adv.eta': '预计完成', 'adv.cancel': '撤销', 'adv.none': '最近 24 小时没有预警', 'adv.rate': '当前提交速率',
    'alert.nobind': '没有可用绑定', 'alert.held': '有消息等待人工审核', 'alert.stalled': '消费停滞',
    'alert.rules': '最近一次规则加载失败，仍在使用原规则', 'alert.notready': '未就绪',
    'act.login': '登录', 'act.login.failed': '登录失败', 'act.logout': '退出', 'act.trace.unmask': '查看完整信息',
    'act.trace.unmask.denied': '查看完整信息（被拒）', 'act.held.release': '放行待审消息', 'act.held.drop': '丢弃待审消息',
    'act.rules.save': '保存规则', 'act.rules.save.refused': '保存规则（被拒）', 'act.advisory.cancel': '撤销预警',
    'act.deadletter.replay': '重放死信', 'act.deadletter.replay.failed': '重放死信（失败）',
    'nav.accounts': '账号', 'ac.title': '控制台账号', 'ac.file': '账号文件', 'ac.name': '用户名', 'ac.role': '角色',
    'ac.sessions': '当前会话', 'ac.add': '添加账号', 'ac.readonly': '本页只读：账号只在文件中修改。',
    'ac.note': '密码（至少 10 个字符）从标准输入读取，文件中只写入其 bcrypt 哈希；文件须他人不可读（chmod 600）。smsgw 只在启动时读取该文件：添加、修改或删除一行后重启 smsgw。',
    'ac.roles': '角色：viewer 只读（个人信息脱敏）；operator 另可查看完整信息（记录审计）、处理待审消息、撤销预警、重放死信、试算编辑后的规则；admin 另可保存规则文件并查看本页。',
  },
  en: {
    'brand': '12123 SMS gateway console', 'nav.overview': 'Overview', 'nav.playground': 'Rules playground', 'nav.trace': 'Trace',
    'nav.held': 'Held messages', 'nav.deadletters': 'Dead letters', 'nav.audit': 'Audit', 'logout': 'Log out',
    'login.title': 'Log in', 'login.user': 'User', 'login.password': 'Password', 'login.submit': 'Log in', 'login.failed': 'Wrong user or password',
    'ov.title': 'Overview', 'ov.carrier': 'Carrier', 'ov.binds': 'Binds', 'ov.tps': 'TPS (now/configured)', 'ov.window': 'Window in use',
    'ov.inflight': 'In flight', 'ov.unsent': 'Not accepted', 'ov.submitted': 'Submitted', 'ov.receipts': 'Receipts', 'ov.delivered': 'Delivered', 'ov.queue': 'Queue (by state)',
    'ov.lag': 'Ingest lag (by topic)', 'ov.rules': 'Rules set', 'ov.loaded': 'loaded at', 'ov.alerts': 'Alerts', 'ov.noalerts': 'No alerts',
    'ov.submitrate': 'submits/s', 'ov.receiptrate': 'receipts/s', 'ov.deliveryrate': 'delivery rate', 'ov.latency': 'submit latency ms', 'ov.receiptlat': 'receipt latency s',
    'ov.events': 'Events consumed', 'ov.dlq': 'Dead-lettered', 'ov.ready': 'Readiness', 'ov.held': 'Held',
    'pg.title': 'Rules playground', 'pg.event': 'Event (JSON)', 'pg.sample': 'Sample event', 'pg.now': 'Now', 'pg.run': 'Evaluate',
    'pg.file': 'Rules file', 'pg.useedit': 'Evaluate with the edited file', 'pg.save': 'Save and reload', 'pg.fired': 'Fires',
    'pg.skipped': 'Skipped', 'pg.nomatch': 'No match', 'pg.cancels': 'Cancels', 'pg.parts': 'part(s)', 'pg.encoding': 'Encoding',
    'pg.chars': 'Billed chars', 'pg.notbefore': 'Send at', 'pg.deferred': 'Deferred by', 'pg.policy': 'Policy',
    'pg.inhibits': 'Inhibits', 'pg.pending': 'pending reminders cancelled',
    'pg.form': 'Edit as a form', 'pg.type': 'Event type',
    'pg.recipient': 'To', 'pg.saved': 'Saved; rules set', 'pg.refused': 'The rules do not load; nothing saved', 'pg.stilldue': 'Re-checked before sending',
    'tr.title': 'Trace', 'tr.phone': 'Phone', 'tr.plate': 'Plate', 'tr.licence': 'Licence no.', 'tr.event': 'Event id',
    'tr.search': 'Search', 'tr.unmask': 'Show unmasked (audited)', 'tr.masked': 'masked', 'tr.unmasked': 'unmasked (audited)',
    'tr.none': 'Nothing found', 'tr.at': 'Time', 'tr.kind': 'Kind', 'tr.msg': 'Message', 'tr.detail': 'Detail',
    'held.title': 'Held messages', 'held.release': 'Release', 'held.drop': 'Drop', 'held.note': 'Note', 'held.reason': 'Reason',
    'held.text': 'Text', 'held.none': 'No held messages', 'held.byreason': 'By reason', 'held.selected': 'Selected',
    'held.done': 'Done', 'dl.title': 'Dead letters', 'dl.reason': 'Reason', 'dl.count': 'Count', 'dl.replay': 'Replay',
    'dl.read': 'Read', 'dl.none': 'No dead letters', 'dl.replayed': 'Replayed to',
    'au.title': 'Audit', 'au.at': 'Time', 'au.who': 'Who', 'au.role': 'Role', 'au.action': 'Action', 'au.target': 'Target',
    'au.detail': 'Detail', 'au.remote': 'From', 'au.more': 'More', 'forbidden': 'Forbidden', 'error': 'Error',
    'nav.advisories': 'Advisories', 'adv.title': 'Advisories in progress', 'adv.event': 'Event', 'adv.rule': 'Rule', 'adv.audience': 'Audience',
    'adv.sent': 'Sent', 'adv.delivered': 'Delivered', 'adv.failed': 'Failed', 'adv.pending': 'Pending', 'adv.held': 'Held',
    'adv.cancelled': 'Cancelled', 'adv.eta': 'ETA', 'adv.cancel': 'Cancel', 'adv.none': 'No advisories in the last 24 hours', 'adv.rate': 'current submit rate',
    'alert.nobind': 'no bind up', 'alert.held': 'messages held for an operator', 'alert.stalled': 'ingest stalled',
    'alert.rules': 'the last rules reload failed; the previous rules are running', 'alert.notready': 'not ready',
    'nav.accounts': 'Accounts', 'ac.title': 'Console accounts', 'ac.file': 'Accounts file', 'ac.name': 'Name', 'ac.role': 'Role',
    'ac.sessions': 'Live sessions', 'ac.add': 'Add an account', 'ac.readonly': 'This page is read-only: accounts are changed in the file.',
    'ac.note': 'The password (at least 10 characters) is read on stdin; only its bcrypt hash is written; the file must not be readable by others (chmod 600). smsgw reads the file only at start: restart it after adding, changing or removing a line.',
    'ac.roles': 'Roles: viewer reads every page with personal data masked; operator also unmasks (recorded), decides held messages, cancels advisories, replays dead letters and previews edited rules; admin also saves rules files and sees this page.',
  },
};

let lang = localStorage.getItem('console.lang') || 'zh';
const t = (k) => (T[lang] && T[lang][k]) || T.zh[k] || k;
let me = null;

function h(tag, attrs, ...kids) {
  const svg = ['svg', 'polyline', 'line', 'text', 'g', 'rect'].includes(tag);
  const e = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids.flat(Infinity)) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function toast(msg) {
  const el = document.getElementById('toast');
  el.textContent = msg; el.className = 'show';
  clearTimeout(toast.t); toast.t = setTimeout(() => { el.className = ''; }, 4000);
}

async function api(method, path, body) {
  const opt = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) { opt.headers['Content-Type'] = 'application/json'; opt.body = JSON.stringify(body); }
  if (method !== 'GET' && me) opt.headers['X-CSRF-Token'] = me.csrf;
  const r = await fetch('api/' + path, opt);
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (r.status === 401 && path !== 'login' && path !== 'me') { me = null; render(); }
  return { status: r.status, ok: r.ok, data };
}

// Times are shown in Beijing time, whatever the browser's zone.
const fmtTime = (s) => s ? new Date(s).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false, timeZone: 'Asia/Shanghai' }) : '-';
const main = () => document.getElementById('main');

function applyStatic() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  document.querySelectorAll('[data-t]').forEach((e) => { e.textContent = t(e.dataset.t); });
  document.getElementById('lang').value = lang;
  document.getElementById('nav').hidden = !me;
  document.getElementById('logout').hidden = !me;
  document.querySelector('#nav a[href="#accounts"]').hidden = !me || me.role !== 'admin';
  document.getElementById('who').textContent = me ? me.user + ' (' + me.role + ')' : '';
  const page = (location.hash || '#overview').slice(1);
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.getAttribute('href') === '#' + page));
}

// poll runs fn every 5 s while the page m is shown.
function poll(m, fn) {
  const id = setInterval(() => { if (!m.isConnected) { clearInterval(id); return; } fn(); }, 5000);
}

// render draws the page of the hash into a fresh container: a render still
// awaiting data from an earlier page writes into its own detached one.
async function render() {
  applyStatic();
  const m = h('div');
  main().replaceChildren(m);
  if (!me) { loginPage(m); return; }
  const page = (location.hash || '#overview').slice(1);
  const pages = { overview, playground, trace, held, advisories, deadletters, audit, accounts };
  await (pages[page] || overview)(m);
}

function loginPage(m) {
  const user = h('input', { id: 'user', autocomplete: 'username', placeholder: t('login.user') });
  const pw = h('input', { id: 'password', type: 'password', autocomplete: 'current-password', placeholder: t('login.password') });
  const err = h('div', { class: 'bad', id: 'login-error' });
  const form = h('form', { class: 'card login', onsubmit: async (ev) => {
    ev.preventDefault();
    const r = await api('POST', 'login', { user: user.value, password: pw.value });
    if (!r.ok) { err.textContent = t('login.failed'); return; }
    me = r.data; render();
  } }, h('h2', { text: t('login.title') }), user, pw, err, h('button', { type: 'submit', id: 'login-submit', text: t('login.submit') }));
  m.append(form);
}

// ---- overview

// alertText translates the server's alert lines (English) it knows.
function alertText(a) {
  let m = /^carrier (\S+): no bind up$/.exec(a);
  if (m) return `${m[1]}: ${t('alert.nobind')}`;
  if (a === 'messages held for an operator') return t('alert.held');
  if (a === 'ingest stalled') return t('alert.stalled');
  if (a.startsWith('the last rules reload failed')) return t('alert.rules');
  m = /^not ready: (.*)$/.exec(a);
  if (m) return `${t('alert.notready')}: ${m[1]}`;
  return a;
}

function chart(series, key, label, color, fixedMax) {
  const W = 300, H = 80;
  series = series || [];
  const pts = series.filter((p) => p[key] >= 0);
  const maxV = fixedMax || Math.max(1e-9, ...pts.map((p) => p[key]));
  const t0 = series.length ? new Date(series[0].at).getTime() : 0;
  const t1 = series.length ? new Date(series[series.length - 1].at).getTime() : 1;
  const span = Math.max(1, t1 - t0);
  const coords = pts.map((p) => {
    const x = ((new Date(p.at).getTime() - t0) / span) * (W - 4) + 2;
    const y = H - 14 - (p[key] / maxV) * (H - 20);
    return x.toFixed(1) + ',' + y.toFixed(1);
  }).join(' ');
  const last = pts.length ? pts[pts.length - 1][key] : null;
  const shown = last === null ? '-' : (key === 'delivery_rate' ? (100 * last).toFixed(1) + '%' : last.toFixed(1));
  return h('svg', { class: 'chart', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label },
    h('polyline', { points: coords, stroke: color }),
    h('text', { x: 4, y: H - 2, 'font-size': 10, fill: '#555', text: `${label}: ${shown}  (max ${key === 'delivery_rate' ? '100%' : maxV.toFixed(1)})` }));
}

async function overview(m) {
  m.append(h('h2', { text: t('ov.title') }));
  const box = h('div', { id: 'overview' });
  m.append(box);
  const load = async () => {
    const r = await api('GET', 'overview');
    if (!r.ok) { box.replaceChildren(h('div', { class: 'bad', text: (r.data && r.data.error) || t('error') })); return; }
    const o = r.data;
    const alerts = h('div', { class: 'card' }, h('h3', { text: t('ov.alerts') }),
      o.alerts.length ? o.alerts.map((a) => h('div', { class: 'alert', text: alertText(a) })) : h('div', { class: 'ok', text: t('ov.noalerts') }));
    const info = h('div', { class: 'card' },
      h('div', {}, `${t('ov.rules')}: `, h('code', { text: (o.rules_hash || '').slice(0, 12) }), ` ${t('ov.loaded')} ${fmtTime(o.rules_loaded_at)}`,
        o.rules_last_reload_ok ? '' : h('span', { class: 'bad', text: ' ✗' })),
      h('div', { text: `${t('ov.ready')}: ${o.ready || '-'}` }),
      h('div', { text: `${t('ov.events')}: ${o.events}  ·  ${t('ov.dlq')}: ${o.dead_lettered}  ·  ${t('ov.held')}: ${o.held}` }),
      h('div', { text: `${t('ov.queue')}: ` + Object.entries(o.queue).sort().map(([k, v]) => `${k} ${v}`).join(' · ') }),
      h('div', { text: `${t('ov.lag')}: ` + (Object.entries(o.ingest_lag || {}).sort().map(([k, v]) => `${k} ${v}`).join(' · ') || '0') }));
    const rows = o.carriers.map((c) => h('tr', {},
      h('td', { text: c.name }), h('td', { class: c.binds_up > 0 ? 'ok' : 'bad', text: `${c.binds_up}/${c.binds}` }),
      h('td', { text: `${c.tps.toFixed(0)} / ${c.tps_configured || '∞'}` }), h('td', { text: `${c.window_in_use}/${c.window}` }),
      h('td', { text: c.in_flight }), h('td', { text: c.unsent }), h('td', { text: c.submitted }), h('td', { text: c.receipts }), h('td', { text: c.delivered })));
    const table = h('table', { id: 'carriers' }, h('tr', {}, ['ov.carrier', 'ov.binds', 'ov.tps', 'ov.window', 'ov.inflight', 'ov.unsent', 'ov.submitted', 'ov.receipts', 'ov.delivered'].map((k) => h('th', { text: t(k) }))), rows);
    const charts = h('div', { class: 'grid' }, o.carriers.map((c) => h('div', { class: 'card' }, h('h3', { text: c.name }),
      chart(c.series, 'submit_per_sec', t('ov.submitrate'), '#1677ff'), chart(c.series, 'receipt_per_sec', t('ov.receiptrate'), '#52c41a'),
      chart(c.series, 'delivery_rate', t('ov.deliveryrate'), '#fa8c16', 1), chart(c.series, 'submit_latency_ms', t('ov.latency'), '#722ed1'),
      chart(c.series, 'receipt_latency_s', t('ov.receiptlat'), '#13c2c2'))));
    box.replaceChildren(alerts, info, table, charts);
  };
  await load();
  poll(m, load);
}

// ---- playground

async function playground(m) {
  m.append(h('h2', { text: t('pg.title') }));
  const [files, samples, schema] = await Promise.all([api('GET', 'rules'), api('GET', 'rules/samples'), api('GET', 'rules/schema')]);
  const evText = h('textarea', { id: 'event', rows: 18, spellcheck: 'false' });
  const sampleSel = h('select', { id: 'sample', onchange: () => { evText.value = JSON.stringify(samples.data[sampleSel.value], null, 2); } },
    (samples.data || []).map((s, i) => h('option', { value: i, text: `${s.type} ${s.id}` })));
  if (samples.data && samples.data.length) evText.value = JSON.stringify(samples.data[0], null, 2);
  // The form: one input per data field of the event type (from the
  // schema), kept in step with the JSON.
  const form = h('div', { id: 'evform', class: 'evform' });
  const types = Object.keys(schema.data || {}).sort();
  const typeSel = h('select', { id: 'evtype' }, types.map((ty) => h('option', { value: ty, text: ty })));
  const getPath = (o, p) => p.split('.').reduce((x, k) => (x == null ? undefined : x[k]), o);
  const setPath = (o, p, v) => {
    const ks = p.split('.'); let x = o;
    for (const k of ks.slice(0, -1)) { if (typeof x[k] !== 'object' || x[k] === null) x[k] = {}; x = x[k]; }
    if (v === undefined) delete x[ks[ks.length - 1]]; else x[ks[ks.length - 1]] = v;
  };
  const buildForm = () => {
    let ev;
    try { ev = JSON.parse(evText.value); } catch (e) { form.replaceChildren(h('div', { class: 'problems', text: 'JSON: ' + e.message })); return; }
    if (ev.type && types.includes(ev.type)) typeSel.value = ev.type;
    const fields = (schema.data || {})[typeSel.value] || [];
    const rows = [['id', 'string', ev.id, (v) => { ev.id = v; }], ['time', 'time', ev.time, (v) => { ev.time = v; }]]
      .concat(fields.map((f) => ['data.' + f.path, f.kind, getPath(ev.data || {}, f.path), (v) => { ev.data = ev.data || {}; setPath(ev.data, f.path, v); }]));
    form.replaceChildren(h('table', {}, rows.map(([path, kind, val, set]) => {
      const shown = kind === 'list' ? (val || []).join(',') : (val === undefined || val === null ? '' : String(val));
      const inp = h('input', { 'data-path': path, value: shown, size: 36, placeholder: kind });
      inp.addEventListener('change', () => {
        const s = inp.value.trim();
        let v = s;
        if (s === '') v = undefined;
        else if (kind === 'number') v = Number(s);
        else if (kind === 'bool') v = s === 'true' || s === '1';
        else if (kind === 'list') v = s.split(',').map((x) => x.trim()).filter(Boolean);
        set(v);
        evText.value = JSON.stringify(ev, null, 2);
      });
      return h('tr', {}, h('td', { class: 'muted', text: `${path} (${kind})` }), h('td', {}, inp));
    })));
  };
  typeSel.addEventListener('change', () => {
    const i = (samples.data || []).findIndex((s) => s.type === typeSel.value);
    evText.value = JSON.stringify(i >= 0 ? samples.data[i] : { specversion: '1.0', id: 'console-1', source: '/console', type: typeSel.value, time: new Date().toISOString(), datacontenttype: 'application/json', data: {} }, null, 2);
    buildForm();
  });
  const formBtn = h('button', { id: 'formbtn', onclick: buildForm, text: t('pg.form') });
  const now = h('input', { id: 'now', placeholder: '2026-11-27T10:00 (' + t('pg.now') + ')', size: 22 });
  const fileSel = h('select', { id: 'file' }, ((files.data && files.data.files) || []).map((f) => h('option', { value: f.name, text: f.name })));
  const editor = h('textarea', { id: 'editor', rows: 18, spellcheck: 'false' });
  const byName = {};
  ((files.data && files.data.files) || []).forEach((f) => { byName[f.name] = f.content; });
  const showFile = () => { editor.value = byName[fileSel.value] || ''; };
  fileSel.addEventListener('change', showFile); showFile();
  const useEdit = h('input', { type: 'checkbox', id: 'useedit' });
  const out = h('div', { id: 'result' });
  const run = async () => {
    let ev;
    try { ev = JSON.parse(evText.value); } catch (e) { out.replaceChildren(h('div', { class: 'problems', text: 'JSON: ' + e.message })); return; }
    const body = { event: ev, now: now.value.trim() };
    if (useEdit.checked) body.files = { [fileSel.value]: editor.value };
    const r = await api('POST', 'rules/preview', body);
    showResult(out, r);
  };
  const save = async () => {
    const r = await api('POST', 'rules/save', { file: fileSel.value, content: editor.value });
    if (r.ok) { byName[fileSel.value] = editor.value; toast(`${t('pg.saved')} ${r.data.hash.slice(0, 12)}`); out.replaceChildren(h('div', { class: 'ok', id: 'saved', text: `${t('pg.saved')} ${r.data.hash.slice(0, 12)}` })); return; }
    out.replaceChildren(h('div', { class: 'bad', text: r.status === 403 ? t('forbidden') + ': ' + r.data.error : t('pg.refused') }),
      h('div', { class: 'problems', id: 'problems', text: ((r.data && r.data.problems) || []).map((p) => p.text).join('\n') || (r.data && r.data.error) }));
  };
  m.append(h('div', { class: 'cols' },
    h('div', { class: 'card' }, h('div', { class: 'row' }, h('b', { text: t('pg.event') }), t('pg.sample'), sampleSel), evText,
      h('div', { class: 'row' }, t('pg.type'), typeSel, formBtn), form,
      h('div', { class: 'row' }, now, h('label', {}, useEdit, t('pg.useedit')), h('button', { id: 'run', onclick: run, text: t('pg.run') }))),
    h('div', { class: 'card' }, h('div', { class: 'row' }, h('b', { text: t('pg.file') }), fileSel,
      me.role === 'admin' ? h('button', { id: 'save', onclick: save, text: t('pg.save') }) : null), editor)), out);
}

// policyText is the policy's reason in words: the server's (English), or
// in Chinese for the reasons the page knows (the server's in the tooltip).
function policyText(f) {
  if (lang !== 'zh') return f.policy_detail;
  const key = f.policy.startsWith('inhibited_by:') ? 'inhibited' : f.policy;
  const zh = T.zh['pol.' + key];
  return zh ? zh.replace('{rule}', f.inhibited_by || '') : f.policy_detail;
}

function showResult(out, r) {
  if (r.status === 422 && r.data && r.data.problems) {
    out.replaceChildren(h('div', { class: 'problems', id: 'problems', text: r.data.problems.map((p) => p.text).join('\n') })); return;
  }
  if (!r.ok) { out.replaceChildren(h('div', { class: 'bad', text: (r.data && r.data.error) || t('error') })); return; }
  const d = r.data;
  const fired = d.fired.map((f) => h('div', { class: 'card fired', 'data-rule': f.rule },
    h('h3', { text: `${t('pg.fired')}: ${f.rule}` }),
    h('div', { text: `${t('pg.recipient')}: ${f.recipient || (f.regions || []).join(',')} · ${t('pg.encoding')}: ${f.encoding} · ${t('pg.chars')}: ${f.chars} · ${f.parts.length} ${t('pg.parts')}` }),
    h('div', { class: 'sms', 'data-parts': f.parts.length }, f.parts.map((p, i) => [i > 0 ? h('span', { class: 'boundary', title: `${i}|${i + 1}`, text: `‖${i + 1}` }) : null, h('span', { class: 'part', text: p })])),
    h('div', { text: `${t('pg.notbefore')}: ${fmtTime(f.not_before)}` + (f.deferred ? ` · ${t('pg.deferred')}: ${f.deferred}` : '') }),
    h('div', { class: f.policy === 'send' ? 'ok' : 'bad', 'data-policy': f.policy, title: f.policy_detail, text: `${t('pg.policy')}: ${f.policy}` + (f.policy_detail ? ` — ${policyText(f)}` : '') }),
    ...(f.inhibits || []).map((x) => h('div', { class: 'muted inhibits', text: `${t('pg.inhibits')}: ${x.rules.join(', ')} · ${t('pg.pending')}: ${x.pending} · ${x.reason}` })),
    f.still_due ? h('div', { class: 'muted', text: `${t('pg.stilldue')}: ${f.still_due}` }) : null));
  const skipped = d.skipped.map((s) => h('div', { class: 'card skipped' }, h('b', { text: `${t('pg.skipped')}: ${s.rule}` }), ` ${s.reason} — ${s.detail}`));
  out.replaceChildren(h('div', { class: 'muted', text: `${d.event} @ ${fmtTime(d.now)} · ${d.hash.slice(0, 12)}${d.edited ? ' (edited)' : ''}` }),
    ...fired, ...skipped,
    ...(d.cancels.length ? [h('div', { class: 'card', text: `${t('pg.cancels')}: ${d.cancels.join('; ')}` })] : []),
    ...(d.no_match.length ? [h('div', { class: 'card muted', text: `${t('pg.nomatch')}: ${d.no_match.join(', ')}` })] : []));
}

// ---- trace

async function trace(m) {
  m.append(h('h2', { text: t('tr.title') }));
  const kind = h('select', { id: 'tkind' }, ['phone', 'plate', 'licence', 'event'].map((k) => h('option', { value: k, text: t('tr.' + k) })));
  const q = h('input', { id: 'tq', size: 30 });
  const unmask = h('input', { type: 'checkbox', id: 'unmask' });
  const out = h('div', { id: 'trace-result' });
  const go = async () => {
    const p = new URLSearchParams({ [kind.value]: q.value.trim() });
    if (unmask.checked) p.set('unmask', '1');
    const r = await api('GET', 'trace?' + p.toString());
    if (!r.ok) { out.replaceChildren(h('div', { class: 'bad', id: 'trace-error', text: (r.status === 403 ? t('forbidden') + ': ' : '') + ((r.data && r.data.error) || t('error')) })); return; }
    const lines = r.data.lines;
    if (!lines.length) { out.replaceChildren(h('div', { text: t('tr.none') })); return; }
    // One timeline per message, messages in the order they first appear.
    const byMsg = new Map();
    for (const l of lines) { if (!byMsg.has(l.message_id)) byMsg.set(l.message_id, []); byMsg.get(l.message_id).push(l); }
    const detail = (l) => l.kind === 'state' ? `${l.state} ${l.reason || ''}` : l.kind === 'call' ? `${l.state} ${l.attempt ? '#' + l.attempt : ''} ${l.reason || ''}` : l.kind === 'part' ? `${l.carrier} part ${l.seq} id ${l.carrier_id}` : `${l.carrier} ${l.carrier_id} ${l.stat} ${l.err || ''}`;
    out.replaceChildren(h('div', { class: r.data.masked ? 'muted' : 'bad', text: r.data.masked ? t('tr.masked') : t('tr.unmasked') }),
      ...[...byMsg.entries()].map(([id, ls]) => {
        const last = ls.filter((l) => l.kind === 'state').pop();
        return h('div', { class: 'card', 'data-message': id },
          h('h3', { text: `#${id} ${ls[0].rule} → ${ls[0].recipient} · ${ls[0].event_id}${last ? ' · ' + last.state : ''}` }),
          h('table', {}, h('tr', {}, ['tr.at', 'tr.kind', 'tr.detail'].map((k) => h('th', { text: t(k) }))),
            ls.map((l) => h('tr', { class: 'line-' + l.kind }, h('td', { text: fmtTime(l.at) }), h('td', { class: 'k-' + l.kind, text: l.kind }), h('td', { text: detail(l) })))));
      }));
  };
  m.append(h('div', { class: 'row card' }, kind, q, h('label', {}, unmask, t('tr.unmask')), h('button', { id: 'tsearch', onclick: go, text: t('tr.search') })), out);
  const pre = new URLSearchParams(location.search);
  if (pre.get('q')) { q.value = pre.get('q'); }
}

// ---- held

async function held(m) {
  m.append(h('h2', { text: t('held.title') }));
  const r = await api('GET', 'held');
  if (!r.ok) { m.append(h('div', { class: 'bad', text: r.data && r.data.error })); return; }
  const note = h('input', { id: 'held-note', placeholder: t('held.note'), size: 40 });
  const decide = async (verb, body) => {
    body.note = note.value;
    const x = await api('POST', 'held/' + verb, body);
    if (!x.ok) { toast((x.status === 403 ? t('forbidden') + ': ' : '') + (x.data && x.data.error)); return; }
    toast(`${t('held.done')}: ${x.data.changed.length}`);
    render();
  };
  if (!r.data.messages.length) { m.append(h('div', { class: 'card', id: 'held-none', text: t('held.none') })); return; }
  const checks = [];
  const shown = r.data.messages.slice(0, 100); // the rest: by reason, or after these are decided
  const rows = shown.map((x) => {
    const cb = h('input', { type: 'checkbox', value: x.id, 'data-id': x.id });
    checks.push(cb);
    return h('tr', { 'data-id': x.id }, h('td', {}, cb), h('td', { text: x.id }), h('td', { text: fmtTime(x.created_at) }), h('td', { text: x.rule }),
      h('td', { text: x.recipient }), h('td', { class: 'reason', text: x.reason }), h('td', { text: x.text }),
      h('td', {}, h('button', { class: 'release', onclick: () => decide('release', { ids: [x.id] }), text: t('held.release') }),
        h('button', { class: 'drop', onclick: () => decide('drop', { ids: [x.id] }), text: t('held.drop') })));
  });
  const selected = () => checks.filter((c) => c.checked).map((c) => Number(c.value));
  const reasons = Object.entries(r.data.reasons).map(([reason, n]) => h('div', { class: 'row' }, h('span', { text: `${t('held.reason')}: ${reason} (${n})` }),
    h('button', { onclick: () => decide('release', { reason }), text: t('held.release') }), h('button', { onclick: () => decide('drop', { reason }), text: t('held.drop') })));
  m.append(h('div', { class: 'card' }, h('b', { text: t('held.byreason') }), reasons,
    h('div', { class: 'row' }, note, h('b', { text: t('held.selected') }), h('button', { id: 'release-selected', onclick: () => decide('release', { ids: selected() }), text: t('held.release') }),
      h('button', { onclick: () => decide('drop', { ids: selected() }), text: t('held.drop') }))),
  h('div', { class: 'muted', id: 'held-count', text: `${shown.length} / ${r.data.messages.length}` }),
  h('table', { id: 'held' }, h('tr', {}, h('th', {}), h('th', { text: 'ID' }), h('th', { text: t('au.at') }), h('th', { text: 'rule' }), h('th', { text: t('pg.recipient') }),
    h('th', { text: t('held.reason') }), h('th', { text: t('held.text') }), h('th', {})), rows));
}

// ---- advisories in progress

async function advisories(m) {
  m.append(h('h2', { text: t('adv.title') }));
  const box = h('div', { id: 'advisories' });
  m.append(box);
  const eta = (s) => s < 0 ? '-' : s === 0 ? '✓' : s < 90 ? `${Math.ceil(s)} s` : `${Math.ceil(s / 60)} min`;
  const load = async () => {
    const r = await api('GET', 'advisories');
    if (!r.ok) { box.replaceChildren(h('div', { class: 'bad', text: (r.data && r.data.error) || t('error') })); return; }
    const list = r.data.advisories;
    if (!list.length) { box.replaceChildren(h('div', { class: 'card', text: t('adv.none') })); return; }
    box.replaceChildren(h('div', { class: 'muted', text: `${t('adv.rate')}: ${r.data.submit_rate.toFixed(1)}/s` }),
      h('table', { id: 'advisory-table' }, h('tr', {}, ['adv.event', 'adv.rule', 'adv.audience', 'adv.sent', 'adv.delivered', 'adv.failed', 'adv.pending', 'adv.held', 'adv.cancelled', 'adv.eta'].map((k) => h('th', { text: t(k) })), h('th', {})),
        list.map((a) => h('tr', { 'data-event': a.event_id }, h('td', { text: a.event_id }), h('td', { text: a.rule }), h('td', { text: a.audience }),
          h('td', { text: a.sent }), h('td', { text: a.delivered }), h('td', { text: a.failed }), h('td', { text: a.pending }), h('td', { text: a.held }),
          h('td', { text: a.cancelled }), h('td', { text: eta(a.eta_seconds) }),
          h('td', {}, a.pending + a.held > 0 ? h('button', { class: 'cancel', onclick: async () => {
            if (!confirm(`${t('adv.cancel')} ${a.rule} ${a.event_id}?`)) return;
            const x = await api('POST', 'advisories/cancel', { event_id: a.event_id, rule: a.rule });
            toast(x.ok ? `${t('adv.cancelled')}: ${x.data.cancelled}` : ((x.status === 403 ? t('forbidden') + ': ' : '') + (x.data && x.data.error)));
            load();
          }, text: t('adv.cancel') }) : null)))));
  };
  await load();
  poll(m, load);
}

// ---- dead letters

async function deadletters(m) {
  m.append(h('h2', { text: t('dl.title') }));
  const r = await api('GET', 'deadletters');
  if (!r.ok) { m.append(h('div', { class: 'bad', text: r.data && r.data.error })); return; }
  m.append(h('div', { class: 'muted', text: `${t('dl.read')}: ${r.data.read}` }));
  if (!r.data.groups.length) { m.append(h('div', { class: 'card', text: t('dl.none') })); return; }
  m.append(h('table', { id: 'dlq' }, h('tr', {}, h('th', { text: t('dl.reason') }), h('th', { text: t('dl.count') })),
    r.data.groups.map((g) => h('tr', {}, h('td', { text: g.reason }), h('td', { text: g.count })))));
  for (const g of r.data.groups) {
    m.append(h('div', { class: 'card' }, h('h3', { text: `${g.reason} (${g.count})` }), g.samples.map((s) => h('div', { class: 'row' },
      h('span', { class: 'muted', text: `${fmtTime(s.time)} ${s.topic} ${s.partition}/${s.offset} ${s.size}B${s.truncated ? ' truncated' : ''}` }),
      h('code', { text: s.excerpt }), h('span', { class: 'bad', text: s.error }),
      s.truncated ? null : h('button', { onclick: async () => {
        const x = await api('POST', 'deadletters/replay', { partition: s.partition, offset: s.offset });
        toast(x.ok ? `${t('dl.replayed')} ${x.data.topic}` : (x.data && x.data.error));
      }, text: t('dl.replay') })))));
  }
}

// ---- audit

async function audit(m) {
  m.append(h('h2', { text: t('au.title') }));
  const table = h('table', { id: 'audit' }, h('tr', {}, ['au.at', 'au.who', 'au.role', 'au.action', 'au.target', 'au.detail', 'au.remote'].map((k) => h('th', { text: t(k) }))));
  const more = h('button', { text: t('au.more') });
  let before = 0;
  const load = async () => {
    const r = await api('GET', 'audit?limit=100' + (before ? '&before=' + before : ''));
    if (!r.ok) { m.append(h('div', { class: 'bad', text: r.data && r.data.error })); return; }
    for (const a of r.data) {
      table.append(h('tr', { class: 'action' }, h('td', { text: fmtTime(a.at) }), h('td', { text: a.who }), h('td', { text: a.role }),
        h('td', { title: a.action, text: lang === 'zh' && T.zh['act.' + a.action] ? `${T.zh['act.' + a.action]} (${a.action})` : a.action }), h('td', { text: a.target }), h('td', { text: a.detail }), h('td', { text: a.remote })));
      before = a.id;
    }
    more.hidden = r.data.length < 100;
  };
  more.addEventListener('click', load);
  m.append(table, more);
  await load();
}

// ---- accounts (admins only; read-only: the file is the source)

async function accounts(m) {
  m.append(h('h2', { text: t('ac.title') }));
  const r = await api('GET', 'accounts');
  if (!r.ok) { m.append(h('div', { class: 'bad', id: 'accounts-error', text: r.status === 403 ? `${t('forbidden')}: ${r.data.error}` : (r.data && r.data.error) || t('error') })); return; }
  const d = r.data;
  m.append(h('div', { class: 'card' },
    h('div', {}, `${t('ac.file')}: `, h('code', { id: 'accounts-file', text: d.file })),
    h('div', { class: 'muted', text: t('ac.readonly') }),
    h('table', { id: 'accounts' }, h('tr', {}, ['ac.name', 'ac.role', 'ac.sessions'].map((k) => h('th', { text: t(k) }))),
      d.accounts.map((a) => h('tr', { class: 'account' }, h('td', { text: a.name }), h('td', { text: a.role }), h('td', { text: a.sessions })))),
    h('div', { class: 'muted', text: t('ac.roles') })),
  h('div', { class: 'card' }, h('b', { text: t('ac.add') }), h('pre', { id: 'accounts-add', text: d.add }), h('div', { class: 'muted', text: t('ac.note') })));
}

document.addEventListener('DOMContentLoaded', async () => {
  document.getElementById('lang').addEventListener('change', (e) => { lang = e.target.value; localStorage.setItem('console.lang', lang); render(); });
  document.getElementById('logout').addEventListener('click', async () => { await api('POST', 'logout'); me = null; render(); });
  window.addEventListener('hashchange', render);
  const r = await api('GET', 'me');
  me = r.ok ? r.data : null;
  render();
});
