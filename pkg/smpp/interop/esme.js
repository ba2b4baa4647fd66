'use strict';
// An ESME built on the npm package smpp (an SMPP implementation independent
// of ours). It binds as a transceiver to the SMSC at HOST:PORT, submits
// UCS2 messages (two single ones and a long one split into parts with an
// 8-bit concatenation UDH), acknowledges the receipts, waits for one per
// part, unbinds and prints one JSON object on stdout. Mobile-originated
// deliver_sm (esm_class without the receipt bit) are collected too; with
// EXPECT_MO=n in the environment it also waits for n of them.
//
// Usage: node esme.js HOST PORT SYSTEM_ID PASSWORD LONG_TEXT SHORT_TEXT...
const smpp = require('smpp');

const [host, port, systemId, password, longText, ...shortTexts] = process.argv.slice(2);
const out = { bind: null, submits: [], receipts: [], mo: [], errors: [] };
const expectMO = Number(process.env.EXPECT_MO || 0);
let finished = false;

// parts cuts text into chunks of at most 67 UTF-16 units without splitting
// a surrogate pair.
function parts(text) {
  const chunks = [];
  let cur = '';
  let units = 0;
  for (const ch of text) {
    if (units + ch.length > 67) {
      chunks.push(cur);
      cur = '';
      units = 0;
    }
    cur += ch;
    units += ch.length;
  }
  chunks.push(cur);
  return chunks;
}

const pdus = shortTexts.map((t) => ({ label: 'single', short_message: t }));
const chunks = parts(longText);
const ref = 0x5a;
chunks.forEach((c, i) => {
  pdus.push({
    label: `long ${i + 1}/${chunks.length}`,
    short_message: { udh: Buffer.from([5, 0, 3, ref, chunks.length, i + 1]), message: c },
  });
});

const session = smpp.connect({ url: `smpp://${host}:${port}`, auto_enquire_link_period: 10000 });
const timer = setTimeout(() => finish('timeout waiting for responses and receipts'), 15000);

function finish(err) {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  if (err) out.errors.push(err);
  const done = () => {
    process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0));
  };
  if (err) {
    session.destroy();
    done();
    return;
  }
  session.unbind(() => {
    session.close();
    done();
  });
}

function check() {
  if (out.submits.length === pdus.length && out.receipts.length >= pdus.length && out.mo.length >= expectMO) finish();
}

session.on('error', (e) => finish(`session error: ${e.message}`));

session.on('deliver_sm', (pdu) => {
  session.send(pdu.response());
  const sm = pdu.short_message || {};
  if ((pdu.esm_class & 0x3c) !== 0x04) {
    out.mo.push({
      esm_class: pdu.esm_class,
      source_addr: pdu.source_addr,
      destination_addr: pdu.destination_addr,
      data_coding: pdu.data_coding,
      udh: sm.udh ? Buffer.concat(sm.udh).toString('hex') : '',
      text: typeof sm.message === 'string' ? sm.message : String(sm.message),
    });
    check();
    return;
  }
  out.receipts.push({
    esm_class: pdu.esm_class,
    source_addr: pdu.source_addr,
    source_addr_ton: pdu.source_addr_ton,
    destination_addr: pdu.destination_addr,
    data_coding: pdu.data_coding,
    text: typeof sm.message === 'string' ? sm.message : String(sm.message),
    receipted_message_id: pdu.receipted_message_id || '',
    message_state: pdu.message_state === undefined ? -1 : pdu.message_state,
  });
  check();
});

session.bind_transceiver({ system_id: systemId, password }, (pdu) => {
  out.bind = pdu.command_status;
  if (pdu.command_status !== 0) {
    finish(`bind refused: ${pdu.command_status}`);
    return;
  }
  for (const p of pdus) {
    session.submit_sm(
      {
        source_addr: '12123',
        source_addr_ton: 5,
        destination_addr: '13800138000',
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        registered_delivery: 1,
        data_coding: 8,
        short_message: p.short_message,
      },
      (resp) => {
        out.submits.push({ label: p.label, status: resp.command_status, message_id: resp.message_id || '' });
        check();
      },
    );
  }
});
