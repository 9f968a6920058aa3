/**
 * The header values of a whole-file 200 for a file the open file cache holds in memory, made
 * once per version of the file instead of once per response: Content-Type, Content-Length,
 * Last-Modified and ETag, the strings planResponse would make. They are kept beside the file's
 * Buffer (a changed file gets a new Buffer, so they go with the old one), for the URI and the
 * location settings they were made for.
 */
import type { MimeTypes } from '../../config/mime';
import { httpDate } from '../../http/dates';
import type { FileInfo } from '../../shared/file-access';
import { checkedHeader, headerTableOf } from '../../http/header-table';
import type { ServerResponse } from 'node:http';
import { contentTypeFor, makeEtag } from './http';

/** What a location serves a file by: the settings the prepared values depend on. */
export interface PreparedFor {
  readonly types: MimeTypes;
  readonly defaultType: string;
  /** The `etag` directive. */
  readonly etag: boolean;
}

/** A cached file's whole-response header values, and what they were made for. */
export interface PreparedHeaders {
  readonly uri: string;
  readonly settings: PreparedFor;
  readonly contentType: string;
  readonly contentLength: string;
  readonly lastModified: string;
  /** The ETag, or null with `etag off`. */
  readonly etag: string | null;
}

const preparedByContent = new WeakMap<Buffer, PreparedHeaders>();

/**
 * The header values for `content` (the bytes of the file `info` describes) served for `uri`
 * under `settings`: those made before when the file, URI and settings are the same (the hot
 * path), else made now, and kept when `keep` (the open file cache keeps this Buffer for the
 * file; a Buffer read for one response is not worth a place in the map).
 */
export function preparedHeaders(content: Buffer, info: FileInfo, uri: string, settings: PreparedFor, keep: boolean): PreparedHeaders {
  const kept = keep ? preparedByContent.get(content) : undefined;
  if (kept !== undefined && kept.settings === settings && kept.uri === uri) return kept;
  const mtime = Math.floor(info.mtimeMs / 1000);
  const made: PreparedHeaders = {
    uri,
    settings,
    // The type comes from the configuration: checked here once, as setHeader would check it.
    contentType: checkedHeader('Content-Type', contentTypeFor(uri, settings.types, settings.defaultType)).value,
    contentLength: String(info.size),
    lastModified: httpDate(mtime),
    etag: settings.etag ? makeEtag(mtime, info.size) : null,
  };
  if (keep) preparedByContent.set(content, made);
  return made;
}

/**
 * Sets the whole-file 200's headers, in planResponse's order: Content-Type, Content-Length,
 * Last-Modified, ETag, Accept-Ranges (each value checked when it was prepared).
 */
export function setPreparedHeaders(res: ServerResponse, head: PreparedHeaders): void {
  const table = headerTableOf(res);
  if (table === null) {
    res.setHeader('Content-Type', head.contentType);
    res.setHeader('Content-Length', head.contentLength);
    res.setHeader('Last-Modified', head.lastModified);
    if (head.etag !== null) res.setHeader('ETag', head.etag);
    res.setHeader('Accept-Ranges', 'bytes');
    return;
  }
  // Fresh pairs each time: appendHeader (an add_header of the same name) changes a pair in place.
  table['content-type'] = ['Content-Type', head.contentType];
  table['content-length'] = ['Content-Length', head.contentLength];
  table['last-modified'] = ['Last-Modified', head.lastModified];
  if (head.etag !== null) table.etag = ['ETag', head.etag];
  table['accept-ranges'] = ['Accept-Ranges', 'bytes'];
}
