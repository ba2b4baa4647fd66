'use strict';
// An SMSC built on the npm package smpp (an SMPP implementation independent
// of ours). It accepts binds with SYSTEM_ID/PASSWORD, answers submit_sm
// with hex message ids and, when asked for, sends a delivery receipt
// (deliver_sm, esm_class 0x04, standard text plus receipted_message_id and
// message_state). It prints one JSON object per line on stdout: listening
// (with the port), bind, submit (decoded), receipt_ack, unbind. It exits
// when stdin closes.
//
// Usage: node smsc.js SYSTEM_ID PASSWORD
const smpp = require('smpp');

const [systemId, password] = process.argv.slice(2);
let nextId = 0x1a2b00;

function log(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function smppDate(d) {
  const p = (n) => String(n).padStart(2, '0');
  return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) + p(d.getUTCHours()) + p(d.getUTCMinutes());
}

const server = smpp.createServer((session) => {
  const onBind = (pdu) => {
    if (pdu.system_id !== systemId || pdu.password !== password) {
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      log({ event: 'bind', command: pdu.command, status: smpp.ESME_RBINDFAIL });
      return;
    }
    session.send(pdu.response({ system_id: 'NODESMSC' }));
    log({ event: 'bind', command: pdu.command, status: 0 });
  };
  session.on('bind_transceiver', onBind);
  session.on('bind_transmitter', onBind);
  session.on('bind_receiver', onBind);
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => {
    session.send(pdu.response());
    log({ event: 'unbind' });
    session.close();
  });
  session.on('error', (e) => log({ event: 'error', error: e.message }));
  session.on('submit_sm', (pdu) => {
    const id = (nextId++).toString(16);
    const sm = pdu.short_message || {};
    const payload = pdu.message_payload;
    const body = sm.message !== undefined ? sm : (payload || {});
    log({
      event: 'submit',
      id,
      source_addr: pdu.source_addr,
      destination_addr: pdu.destination_addr,
      dest_addr_ton: pdu.dest_addr_ton,
      data_coding: pdu.data_coding,
      esm_class: pdu.esm_class,
      registered_delivery: pdu.registered_delivery,
      udh: body.udh ? Buffer.concat(body.udh).toString('hex') : '',
      text: typeof body.message === 'string' ? body.message : Buffer.from(body.message || []).toString('hex'),
    });
    session.send(pdu.response({ message_id: id }));
    if ((pdu.registered_delivery & 3) === 0) return;
    setTimeout(() => {
      const d = smppDate(new Date());
      session.deliver_sm(
        {
          source_addr: pdu.destination_addr,
          source_addr_ton: pdu.dest_addr_ton,
          source_addr_npi: pdu.dest_addr_npi,
          destination_addr: pdu.source_addr,
          dest_addr_ton: pdu.source_addr_ton,
          dest_addr_npi: pdu.source_addr_npi,
          esm_class: 4,
          data_coding: 0,
          short_message: `id:${id} sub:001 dlvrd:001 submit date:${d} done date:${d} stat:DELIVRD err:000 text:`,
          receipted_message_id: id,
          message_state: 2,
        },
        (resp) => log({ event: 'receipt_ack', id, status: resp.command_status }),
      );
    }, 20);
  });
});

server.listen(0, '127.0.0.1', () => log({ event: 'listening', port: server.address().port }));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
