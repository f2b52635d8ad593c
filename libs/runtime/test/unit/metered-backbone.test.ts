import { createEmbeddedBackbone } from '@protomesh/backbone';
import { meteredBackbone } from '@protomesh/runtime';
import { ServiceMetrics } from '@protomesh/telemetry';
import { uniqueName, waitFor } from '@protomesh/test-support';
import { describe, expect, it } from 'vitest';

describe('meteredBackbone', () => {
  it('counts sent and consumed messages and times appends under the OpenTelemetry messaging names', async () => {
    const inner = createEmbeddedBackbone();
    const metrics = new ServiceMetrics('test');
    const backbone = meteredBackbone(inner, metrics.meter);
    const p = uniqueName();
    await backbone.ensureStream({ name: p.toUpperCase(), subjects: [`${p}.s.>`] });
    const live: string[] = [];
    backbone.subscribe(`${p}.>`, (m) => live.push(m.subject));
    const consumed: number[] = [];
    await backbone.consume({ stream: p.toUpperCase(), deliver: { kind: 'all' } }, (m) => {
      consumed.push(m.seq);
      m.ack();
    });
    backbone.publish(`${p}.live`, new Uint8Array([1]));
    await backbone.append(`${p}.s.a`, new Uint8Array([2]));
    await expect(backbone.append(`${p}.nowhere`, new Uint8Array([3]), { timeoutMs: 200 })).rejects.toThrow();
    await waitFor(() => live.length === 2 && consumed.length === 1, 'deliveries');

    const text = await metrics.render();
    expect(text).toMatch(/^messaging_client_sent_messages_total\{[^}]*messaging_operation_name="publish"[^}]*\} 1$/m);
    expect(text).toMatch(/^messaging_client_sent_messages_total\{[^}]*messaging_operation_name="append"[^}]*\} 1$/m);
    expect(text).toMatch(
      /^messaging_client_consumed_messages_total\{[^}]*messaging_operation_name="receive"[^}]*\} 2$/m,
    );
    expect(text).toMatch(
      /^messaging_client_consumed_messages_total\{[^}]*messaging_operation_name="consume"[^}]*\} 1$/m,
    );
    expect(text).toMatch(
      /^messaging_client_operation_duration_count\{[^}]*messaging_operation_name="append"[^}]*\} 1$/m,
    );
    expect(text).toMatch(/^messaging_client_operation_duration_count\{[^}]*error_type="append_failed"[^}]*\} 1$/m);
    expect(text).toContain('messaging_system="protomesh_embedded"');
    // Everything else passes straight through.
    expect(backbone.kind).toBe('embedded');
    expect((await backbone.streamState(p.toUpperCase()))?.lastSeq).toBe(1);
    expect(typeof backbone.readStream).toBe(typeof inner.readStream);
    await metrics.shutdown();
    await inner.close();
  });
});
