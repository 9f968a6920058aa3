/**
 * A tiny DNS server on loopback UDP for the resolver's tests: A records by name, a name that
 * answers NXDOMAIN or SERVFAIL, or one that never answers; counts the queries it got. The only
 * importer of dns-packet (the wire format, so the test does not hand-roll it).
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';

/** What a name answers. */
export interface DnsRecord {
  readonly a?: readonly string[];
  readonly ttl?: number;
  readonly rcode?: 'NXDOMAIN' | 'SERVFAIL' | 'REFUSED';
  /** Never answered (the resolver times out). */
  readonly silent?: boolean;
}

interface Question {
  readonly name: string;
  readonly type: string;
}

interface Packet {
  readonly id?: number;
  readonly type?: 'query' | 'response';
  readonly flags?: number;
  readonly rcode?: string;
  readonly questions?: readonly Question[];
  readonly answers?: readonly { name: string; type: string; ttl: number; data: string }[];
}

const dnsPacket = require('dns-packet') as { decode(buf: Buffer): Packet; encode(packet: Packet): Buffer; RECURSION_DESIRED: number; RECURSION_AVAILABLE: number };
/** The header's RCODE bits (dns-packet encodes them from `flags`). */
const RCODES = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

/** A running DNS server. */
export interface DnsServer {
  readonly port: number;
  /** `TYPE name` of every query, in order. */
  readonly queries: string[];
  close(): Promise<void>;
}

/** Starts a DNS server on 127.0.0.1, port 0, answering from `records` (any other name: NXDOMAIN). */
export async function startDnsServer(records: Readonly<Record<string, DnsRecord>>): Promise<DnsServer> {
  const socket = dgram.createSocket('udp4');
  const queries: string[] = [];
  socket.on('message', (message, peer) => {
    let query: Packet;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return;
    }
    const question = query.questions?.[0];
    if (!question) return;
    queries.push(`${question.type} ${question.name}`);
    const record = records[question.name.toLowerCase()];
    if (record?.silent) return;
    const rcode: keyof typeof RCODES = record ? (record.rcode ?? 'NOERROR') : 'NXDOMAIN';
    const answers = question.type === 'A' && record?.a ? record.a.map((data) => ({ name: question.name, type: 'A', ttl: record.ttl ?? 300, data })) : [];
    const reply = dnsPacket.encode({
      id: query.id,
      type: 'response',
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | RCODES[rcode],
      questions: query.questions,
      answers,
    });
    socket.send(reply, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    port: (socket.address() as AddressInfo).port,
    queries,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
