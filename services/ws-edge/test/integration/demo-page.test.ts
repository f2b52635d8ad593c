// The demo page at / in real headless Chromium (playwright-core + Debian chromium): an MQTT
// client's message appears on the page; a publish typed into the page reaches an MQTT subscriber.
import { existsSync } from 'node:fs';
import { type NatsServerHandle, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import mqtt, { type MqttClient } from 'mqtt';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Replicas } from '../support/replicas.js';
import { type Siblings, startSiblings } from '../support/siblings.js';

const CHROMIUM = '/usr/bin/chromium';
let nats: NatsServerHandle;
let replicas: Replicas;
let siblings: Siblings | undefined;
let browser: Browser | undefined;
let device: MqttClient | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  nats = await startNatsServer();
  replicas = new Replicas(nats.url);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
});

afterEach(async () => {
  await device?.endAsync();
  device = undefined;
  await replicas.close();
  await siblings?.stop();
  siblings = undefined;
});

afterAll(async () => {
  await browser?.close();
  await nats?.stop();
});

describe('demo page', () => {
  it('shows messages an MQTT client publishes, with a rate, and publishes to MQTT subscribers', async () => {
    const prefix = uniqueName();
    siblings = await startSiblings(nats.url, prefix);
    const edge = await replicas.start(prefix);
    const pageUrl = replicas.url(edge).replace(/^ws:/, 'http:').replace(/\/ws$/, '/');

    const page = await browser!.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(pageUrl);
    expect(await page.title()).toBe('Protomesh live');
    expect(await page.inputValue('#url')).toBe(replicas.url(edge));
    await page.click('#connect');
    await page.waitForSelector('#status[data-state=open]');
    await page.fill('#filter', 'demo/#');
    await page.click('#subscribe');
    await page.waitForFunction("document.querySelector('#subscriptions')?.textContent?.includes('demo/#')");

    const received: Array<[string, string]> = [];
    device = await mqtt.connectAsync(siblings.mqttUrl, { protocolVersion: 5, reconnectPeriod: 0 });
    device.on('message', (topic, payload) => received.push([topic, payload.toString()]));
    await device.subscribeAsync('demo/out', { qos: 1 });

    // MQTT → page.
    for (let n = 0; n < 5; n++) await device.publishAsync('demo/sensor', `reading ${n}`, { qos: 1 });
    await page.waitForFunction("document.querySelectorAll('#messages li').length >= 5");
    const shown = await page.$$eval('#messages li .payload', (items) => items.map((item) => item.textContent));
    expect(shown).toEqual(['reading 4', 'reading 3', 'reading 2', 'reading 1', 'reading 0']);
    expect(await page.textContent('#messages li .topic')).toBe('demo/sensor');
    expect(await page.textContent('#messages li .meta')).toContain('mqtt');
    // The counters refresh every 250 ms.
    await page.waitForFunction("document.querySelector('#count')?.textContent === '5'");
    await page.waitForFunction("Number(document.querySelector('#rate')?.textContent) > 0");

    // Page → MQTT.
    await page.fill('#pub-topic', 'demo/out');
    await page.fill('#pub-message', 'hello from chromium');
    await page.selectOption('#pub-qos', '1');
    await page.click('#publish');
    await page.waitForFunction("document.querySelector('#pub-result')?.textContent?.startsWith('stored at seq')");
    await waitFor(() => received.length >= 1, 'the MQTT subscriber to get the page publish');
    expect(received).toEqual([['demo/out', 'hello from chromium']]);
    expect(problems).toEqual([]);
    await page.close();
  });
});
