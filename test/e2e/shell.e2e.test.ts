// The web shell in a real browser against a real server: sign in, greeting, language switch,
// sign out, wrong-password message, phone layout, labelled inputs and the first-load JS budget.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import {
  ADMIN_PASSWORD,
  ADMIN_USERNAME,
  horizontalOverflow,
  launchBrowser,
  newContext,
  PHONE,
  screenshot,
  startServer,
  tallyScripts,
  unlabelledInputs,
  type TrellisServer,
} from './helpers.ts';

/** Gzipped JavaScript the login page may load before it is interactive. */
const LOGIN_JS_BUDGET = 300 * 1024;

let server: TrellisServer;
let browser: Browser;

beforeAll(async () => {
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function openLogin(page: Page): Promise<void> {
  await page.goto('/login');
  await page.getByLabel('用户名', { exact: true }).waitFor();
}

async function signIn(page: Page, username: string, password: string) {
  await page.getByLabel('用户名', { exact: true }).fill(username);
  await page.getByLabel('密码', { exact: true }).fill(password);
  const answer = page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/login') && r.request().method() === 'POST');
  await page.getByRole('button', { name: '登录', exact: true }).click();
  return answer;
}

describe('web shell', () => {
  test('login page: every input has an accessible label, JS within budget', async () => {
    const context = await newContext(browser, server);
    try {
      const page = await context.newPage();
      const scripts = tallyScripts(page);
      await openLogin(page);
      await page.waitForLoadState('networkidle');
      await screenshot(page, 'login-desktop');
      expect(await unlabelledInputs(page)).toEqual([]);
      expect(await page.getByRole('button', { name: '登录', exact: true }).isVisible()).toBe(true);
      const kb = (scripts.gzipBytes() / 1024).toFixed(1);
      console.log(`login page JS: ${scripts.files.length} files, ${kb} KB gzipped`);
      expect(scripts.gzipBytes()).toBeLessThanOrEqual(LOGIN_JS_BUDGET);
    } finally {
      await context.close();
    }
  });

  test('signed out: the app sends you to the login page', async () => {
    const context = await newContext(browser, server);
    try {
      const page = await context.newPage();
      await page.goto('/');
      await page.waitForURL('**/login');
      await page.getByLabel('用户名', { exact: true }).waitFor();
    } finally {
      await context.close();
    }
  });

  test('sign in, greeting, English and back, sign out', async () => {
    const context = await newContext(browser, server);
    try {
      const page = await context.newPage();
      await openLogin(page);
      const answer = await signIn(page, ADMIN_USERNAME, ADMIN_PASSWORD);
      expect(answer.status(), await answer.text()).toBe(200);
      const { user } = (await answer.json()) as { user: { displayName: string; displayNameEn: string | null } };

      const greeting = page.getByTestId('home-greeting');
      await greeting.waitFor();
      expect(await greeting.textContent()).toBe(`欢迎，${user.displayName}`);
      expect(new URL(page.url()).pathname).toBe('/');
      await screenshot(page, 'home-zh');

      await page.getByTestId('language-switch').click();
      await page.getByText(/^Welcome, /).waitFor();
      expect(await greeting.textContent()).toBe(`Welcome, ${user.displayNameEn ?? user.displayName}`);
      expect(await page.evaluate(() => document.documentElement.lang)).toBe('en');
      // The choice survives a reload.
      await page.reload();
      await page.getByText(/^Welcome, /).waitFor();
      await screenshot(page, 'home-en');

      await page.getByTestId('language-switch').click();
      await page.getByText(/^欢迎，/).waitFor();
      expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');

      await page.getByTestId('user-menu').click();
      await page.getByRole('menuitem', { name: '修改密码' }).waitFor();
      await page.getByRole('menuitem', { name: '退出登录' }).click();
      await page.waitForURL('**/login');
      // The session is gone on the server too: the app sends us back to sign in.
      await page.goto('/');
      await page.waitForURL('**/login');
    } finally {
      await context.close();
    }
  });

  test('phone 390×844: no horizontal scrolling on login and home', async () => {
    const context = await newContext(browser, server, PHONE);
    try {
      const page = await context.newPage();
      await openLogin(page);
      await screenshot(page, 'login-phone');
      const login = await horizontalOverflow(page);
      expect(login.scrollWidth).toBeLessThanOrEqual(390);

      const answer = await signIn(page, ADMIN_USERNAME, ADMIN_PASSWORD);
      expect(answer.status(), await answer.text()).toBe(200);
      await page.getByTestId('home-greeting').waitFor();
      await screenshot(page, 'home-phone');
      const home = await horizontalOverflow(page);
      expect(home.scrollWidth).toBeLessThanOrEqual(390);
    } finally {
      await context.close();
    }
  });

  test('wrong password: the server detail is shown', async () => {
    const context = await newContext(browser, server);
    try {
      const page = await context.newPage();
      await openLogin(page);
      const answer = await signIn(page, ADMIN_USERNAME, 'not-the-password');
      expect(answer.status()).toBeGreaterThanOrEqual(400);
      const problem = (await answer.json()) as { detail?: string; title?: string };
      const alert = page.getByTestId('login-error');
      await alert.waitFor();
      expect(await alert.textContent()).toContain(problem.detail ?? problem.title);
      await screenshot(page, 'login-wrong-password');
      expect(new URL(page.url()).pathname).toBe('/login');
    } finally {
      await context.close();
    }
  });

  // Last: it changes the admin password for the rest of this server's life.
  test('change password: wrong current password is explained, then the new one works', async () => {
    const context = await newContext(browser, server);
    const newPassword = 'New-Pass-2026!x';
    try {
      const page = await context.newPage();
      await openLogin(page);
      expect((await signIn(page, ADMIN_USERNAME, ADMIN_PASSWORD)).status()).toBe(200);
      await page.getByTestId('home-greeting').waitFor();

      await page.getByTestId('user-menu').click();
      await page.getByRole('menuitem', { name: '修改密码' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByLabel('当前密码', { exact: true }).fill('wrong-current-password');
      await dialog.getByLabel('新密码', { exact: true }).fill(newPassword);
      await dialog.getByLabel('确认新密码', { exact: true }).fill(newPassword + 'typo');
      await dialog.getByRole('button', { name: '保存' }).click();
      await dialog.getByText('两次输入的新密码不一致').waitFor();

      await dialog.getByLabel('确认新密码', { exact: true }).fill(newPassword);
      const refused = page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/password'));
      await dialog.getByRole('button', { name: '保存' }).click();
      const problem = (await (await refused).json()) as { detail: string };
      await dialog.getByText(problem.detail).waitFor();
      expect(await unlabelledInputs(page)).toEqual([]);
      await screenshot(page, 'change-password-refused');

      await dialog.getByLabel('当前密码', { exact: true }).fill(ADMIN_PASSWORD);
      const accepted = page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/password'));
      await dialog.getByRole('button', { name: '保存' }).click();
      expect((await accepted).status()).toBe(204);
      await page.getByText('密码已修改').waitFor();
      await dialog.waitFor({ state: 'hidden' });

      await page.getByTestId('user-menu').click();
      await page.getByRole('menuitem', { name: '退出登录' }).click();
      await page.waitForURL('**/login');
      expect((await signIn(page, ADMIN_USERNAME, newPassword)).status()).toBe(200);
      await page.getByTestId('home-greeting').waitFor();
    } finally {
      await context.close();
    }
  });
});
