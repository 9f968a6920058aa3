/**
 * A channel's state as nchan's publisher answers it (its `nchan_output_info`): plain text by
 * default, JSON, YAML or XML as the `Accept` header asks (`text/` or `application/` then
 * `json`, `x-json`, `yaml`, `x-yaml`, `xml`, `plain`; the first such item wins), lines ended
 * with CR LF as nchan writes them.
 */

/** What the answer says of the channel. */
export interface NchanChannelInfo {
  readonly messages: number;
  /** Seconds since a subscriber last asked for the channel, -1 for never. */
  readonly requested: number;
  readonly subscribers: number;
  /** The last message's id, `0:0` when there is none (nchan's empty id). */
  readonly lastMessageId: string;
}

type Format = 'plain' | 'json' | 'yaml' | 'xml';

const SUBTYPES: readonly (readonly [string, Format])[] = [
  ['plain', 'plain'],
  ['json', 'json'],
  ['x-json', 'json'],
  ['yaml', 'yaml'],
  ['x-yaml', 'yaml'],
  ['xml', 'xml'],
];

/** The format an `Accept` header asks for, as nchan reads it. */
export function infoFormat(accept: string | undefined): Format {
  if (!accept) return 'plain';
  for (const item of accept.split(',')) {
    const m = /(?:text|application)\/(.*)$/s.exec(item);
    if (!m) continue;
    for (const [subtype, format] of SUBTYPES) if (m[1].startsWith(subtype)) return format;
  }
  return 'plain';
}

/** The answer's content type and body. */
export function nchanChannelInfo(accept: string | undefined, info: NchanChannelInfo): { contentType: string; body: string } {
  const { messages, requested, subscribers, lastMessageId: id } = info;
  const format = infoFormat(accept);
  switch (format) {
    case 'json':
      return { contentType: 'text/json', body: `{"messages": ${messages}, "requested": ${requested}, "subscribers": ${subscribers}, "last_message_id": "${id}" }` };
    case 'yaml':
      return { contentType: 'text/yaml', body: `---\r\nmessages: ${messages}\r\nrequested: ${requested}\r\nsubscribers: ${subscribers}\r\nlast_message_id: "${id}"\r\n\r\n` };
    case 'xml':
      return {
        contentType: 'text/xml',
        body:
          '<?xml version="1.0" encoding="UTF-8" ?>\r\n<channel>\r\n' +
          `  <messages>${messages}</messages>\r\n  <requested>${requested}</requested>\r\n` +
          `  <subscribers>${subscribers}</subscribers>\r\n  <last_message_id>${id}</last_message_id>\r\n</channel>`,
      };
    default:
      return { contentType: 'text/plain', body: `queued messages: ${messages}\r\nlast requested: ${requested} sec. ago\r\nactive subscribers: ${subscribers}\r\nlast message id: ${id}` };
  }
}
