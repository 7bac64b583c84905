import { describe, expect, it } from 'vitest';
import { decide } from '../../src/policy/decide.js';
import { decideResponse, decideResponseBytes, mediaType, responseByteLimit } from '../../src/policy/response.js';
import type { Decision, ResponseFacts } from '../../src/policy/types.js';
import { facts, loadFixtures } from './helpers.js';

const policy = await loadFixtures('response.yaml');

function requestDecision(host: string): Decision {
  const d = decide(policy, facts({ host }));
  if (d.action === 'needs-ip') throw new Error('unexpected needs-ip');
  return d;
}

const MiB = 1 << 20;
const cases: [string, string, ResponseFacts, Partial<Decision>][] = [
  ['plain html', 'media.test', { contentType: 'text/html; charset=utf-8', contentLength: 1000 }, { action: 'allow', ruleId: 'no-video' }],
  ['video by glob', 'media.test', { contentType: 'video/mp4' }, { action: 'deny', ruleId: 'no-video', responseCheck: 'content-type' }],
  ['type case and params', 'media.test', { contentType: 'Video/WebM; codecs="vp9"' }, { action: 'deny', responseCheck: 'content-type' }],
  ['exact type', 'media.test', { contentType: 'application/x-msdownload' }, { action: 'deny', responseCheck: 'content-type' }],
  ['no content type', 'media.test', {}, { action: 'allow', ruleId: 'no-video' }],
  ['size at limit', 'media.test', { contentType: 'application/zip', contentLength: MiB }, { action: 'allow' }],
  ['size over limit', 'media.test', { contentType: 'application/zip', contentLength: MiB + 1 }, { action: 'deny', responseCheck: 'size' }],
  ['report-mode size', 'trial.test', { contentLength: 101 }, { action: 'allow', wouldDeny: true, mode: 'report', ruleId: 'report-size', responseCheck: 'size' }],
  ['rule without limits', 'other.test', { contentType: 'video/mp4', contentLength: 10 * MiB }, { action: 'allow', ruleId: 'default' }],
];

describe('decideResponse', () => {
  it.each(cases)('%s', (_n, host, resp, want) => {
    const req = requestDecision(host);
    const d = decideResponse(req, resp);
    expect(d).toMatchObject(want);
    if (want.action === 'allow' && !want.wouldDeny) expect(d).toBe(req); // no allocation on the common path
  });

  it('the deny reason names the check', () => {
    expect(decideResponse(requestDecision('media.test'), { contentType: 'video/mp4' }).reason).toBe('Too big or video (content type video/mp4)');
    expect(decideResponse(requestDecision('media.test'), { contentLength: 2 * MiB }).reason).toBe(`Too big or video (larger than ${MiB} bytes)`);
  });

  it('streamed byte counts: read the limit once, check when it is crossed', () => {
    const req = requestDecision('media.test');
    const limit = responseByteLimit(req);
    expect(limit).toBe(MiB);
    let count = 0;
    let verdict: Decision = req;
    for (const chunk of [512 * 1024, 512 * 1024, 1]) {
      count += chunk;
      if (count > limit) verdict = decideResponseBytes(req, count);
    }
    expect(verdict).toMatchObject({ action: 'deny', ruleId: 'no-video', responseCheck: 'size' });
    expect(responseByteLimit(requestDecision('other.test'))).toBe(Infinity);
    expect(decideResponseBytes(req, MiB)).toBe(req);
  });

  it('mediaType strips parameters and lowercases', () => {
    expect(mediaType(' Text/HTML ; charset=UTF-8')).toBe('text/html');
  });
});
