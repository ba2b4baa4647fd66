// Drives the operators' console of a running `smsgw demo --console` with
// Debian's chromium through playwright-core. Run by browser_test.go:
//   node console.mjs URL ADMIN_USER ADMIN_PW VIEWER_USER VIEWER_PW SHOTS_DIR
// It prints one JSON line of findings and exits non-zero on a failed check.
import { chromium } from 'playwright-core';
import { join } from 'node:path';

const [url, adminUser, adminPw, viewerUser, viewerPw, shots] = process.argv.slice(2);
const found = {};
function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
  found[what] = true;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  // launch() gives chromium a fresh temporary --user-data-dir of its own
  // (passing one is refused), removed on close.
  timeout: 30000,
});
try {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 }, locale: 'zh-CN' });
  ctx.setDefaultTimeout(10000);
  const page = await ctx.newPage();
  const shot = (name) => page.screenshot({ path: join(shots, name + '.png'), fullPage: true });

  // Log in (a wrong password first).
  await page.goto(url);
  await page.fill('#user', adminUser);
  await page.fill('#password', 'wrong password');
  await page.click('#login-submit');
  await page.waitForSelector('#login-error:not(:empty)');
  check((await page.textContent('#login-error')).includes('错误'), 'wrong password refused');
  await shot('01-login');
  await page.fill('#password', adminPw);
  await page.click('#login-submit');
  await page.waitForSelector('#carriers');
  check((await page.textContent('#who')).includes(adminUser), 'logged in');

  // Overview: the carriers table and charts.
  await page.waitForSelector('svg.chart polyline');
  const carriers = await page.$$eval('#carriers tr', (rows) => rows.length - 1);
  check(carriers === 4, 'overview shows 4 carriers');
  await shot('02-overview');

  // Playground: find a sample that fires a rule with a 2-part message.
  await page.goto(url + '#playground');
  await page.waitForSelector('#sample option', { state: 'attached' });
  const n = await page.$$eval('#sample option', (o) => o.length);
  let twoParts = false;
  for (let i = 0; i < n && !twoParts; i++) {
    await page.selectOption('#sample', String(i));
    await page.$eval('#result', (e) => e.replaceChildren()); // wait for this run's answer, not the last one's
    await page.click('#run');
    await page.waitForSelector('#result .muted');
    twoParts = (await page.$('.fired .sms[data-parts="2"]')) !== null;
  }
  check(twoParts, 'playground fires a rule with a 2-part message');
  check(await page.$('.fired .sms[data-parts="2"] .boundary') !== null, 'playground marks the part boundary');
  await shot('03-playground');

  // The form from the event schema edits the JSON: a new phone in every
  // phone field shows as the (masked) recipient.
  await page.click('#formbtn');
  const phones = await page.$$('#evform input[data-path$="phone"]');
  check(phones.length > 0, 'the form shows the phone fields');
  for (const p of phones) { await p.fill('18600000000'); await p.dispatchEvent('change'); }
  check((await page.inputValue('#event')).includes('18600000000'), 'the form writes the JSON');
  await page.$eval('#result', (e) => e.replaceChildren());
  await page.click('#run');
  await page.waitForSelector('#result .muted');
  check((await page.textContent('#result')).includes('186****0000'), 'the edited event is evaluated');
  await shot('03b-playground-form');

  // A broken edit is refused with file:line:column and nothing is saved.
  await page.check('#useedit');
  const file = await page.$eval('#file', (s) => s.value);
  await page.fill('#editor', 'rules:\n  - id: [broken\n');
  await page.click('#save');
  await page.waitForSelector('#problems');
  const prob = await page.textContent('#problems');
  check(new RegExp(file.replace('.', '\\.') + ':\\d+:\\d+:').test(prob), 'bad rule refused with file:line:column');
  await shot('04-playground-refused');

  // Trace: find (through the API) a demo event with a delivered receipt,
  // then search it in the page.
  let eventId = null;
  for (let i = 1; i <= 200 && !eventId; i++) {
    const id = 'gen-9cr-' + i;
    const r = await page.request.get(url + 'api/trace?event=' + id);
    if (!r.ok()) continue;
    const d = await r.json();
    if (d.lines.some((l) => l.kind === 'receipt' && l.stat === 'DELIVRD')) eventId = id;
  }
  check(eventId !== null, 'a demo event with a receipt exists');
  await page.goto(url + '#trace');
  await page.selectOption('#tkind', 'event');
  await page.fill('#tq', eventId);
  await page.click('#tsearch');
  await page.waitForSelector('#trace-result tr.line-receipt');
  check((await page.textContent('#trace-result')).includes('DELIVRD'), 'trace shows the receipt');
  check((await page.textContent('#trace-result')).includes('****'), 'trace is masked by default');
  await shot('05-trace');

  // Held: release the first one; the audit shows it.
  await page.goto(url + '#held');
  const row = await page.waitForSelector('#held tr[data-id]').catch(() => null);
  const heldId = row && await row.getAttribute('data-id');
  check(heldId, 'a held message is listed');
  await shot('06-held');
  await page.fill('#held-note', 'browser test');
  await page.click(`#held tr[data-id="${heldId}"] button.release`);
  await page.waitForFunction((id) => !document.querySelector(`#held tr[data-id="${id}"]`), heldId);
  found['held message released'] = true;

  // Advisories in progress: the held advisories are listed; cancel one.
  await page.goto(url + '#advisories');
  await page.waitForSelector('#advisory-table tr[data-event]');
  await shot('07-advisories');
  page.once('dialog', (d) => d.accept());
  const advEvent = await page.$eval('#advisory-table tr[data-event]:has(button.cancel)', (tr) => tr.dataset.event);
  await page.click(`#advisory-table tr[data-event="${advEvent}"] button.cancel`);
  await page.waitForFunction((id) => !document.querySelector(`#advisory-table tr[data-event="${id}"] button.cancel`), advEvent);
  found['advisory cancelled'] = true;

  await page.goto(url + '#deadletters');
  await page.waitForSelector('#dlq');
  await shot('08-deadletters');

  await page.goto(url + '#audit');
  await page.waitForSelector('#audit tr.action');
  const audit = await page.textContent('#audit');
  check(audit.includes('held.release') && audit.includes(heldId), 'audit shows the release');
  check(audit.includes('advisory.cancel') && audit.includes(advEvent), 'audit shows the advisory cancel');
  await shot('09-audit');

  // English.
  await page.selectOption('#lang', 'en');
  await page.waitForSelector('header nav >> text=Overview');
  check((await page.textContent('header nav')).includes('Overview'), 'English interface');
  await shot('10-audit-en');
  await page.selectOption('#lang', 'zh');

  // Accounts (admins only, read-only): a screenshot.
  await page.goto(url + '#accounts');
  await page.waitForSelector('#accounts tr.account');
  await shot('12-accounts');

  // A viewer cannot unmask.
  const vctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: 'zh-CN' });
  vctx.setDefaultTimeout(10000);
  const v = await vctx.newPage();
  await v.goto(url);
  await v.fill('#user', viewerUser);
  await v.fill('#password', viewerPw);
  await v.click('#login-submit');
  await v.waitForSelector('#carriers');
  await v.goto(url + '#trace');
  await v.selectOption('#tkind', 'event');
  await v.fill('#tq', eventId);
  await v.check('#unmask');
  await v.click('#tsearch');
  await v.waitForSelector('#trace-error');
  check((await v.textContent('#trace-error')).includes('无权限'), 'viewer cannot unmask');
  await v.screenshot({ path: join(shots, '11-viewer-unmask-denied.png'), fullPage: true });
  const heldRes = await v.request.post(url + 'api/held/release', { data: { ids: [1] }, headers: { 'X-CSRF-Token': 'x' } });
  check(heldRes.status() === 403, 'viewer cannot release');
  await vctx.close();
  console.log(JSON.stringify({ ok: true, eventId, heldId, found: Object.keys(found) }));
} finally {
  await browser.close();
}
