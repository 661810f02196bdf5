import nodemailer from 'nodemailer';
import type { MailConfig } from './config.js';
import type { Logger } from './logger.js';

/** A plain-text mail to one address. */
export interface Mail {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  /** Where mails go: an SMTP server, or the log when SMTP_URL is unset. */
  readonly transport: 'smtp' | 'log';
  /** Resolves once the mail is handed over (accepted by the SMTP server, or logged); rejects if it could not be. */
  send(mail: Mail): Promise<void>;
  close(): void;
}

/**
 * Bounds on each step of a delivery, far below nodemailer's defaults (up to 10 minutes of
 * silence): a stalled SMTP server fails the mail, logged, instead of holding it for ever.
 */
const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 };

/**
 * Mail by SMTP through nodemailer when SMTP_URL is set (`smtp://user:pass@host:587`, STARTTLS
 * when the server offers it; `smtps://` for TLS from the start). Without it, each mail is
 * written to the log at info level, whole, so that the flows that need one work on a laptop.
 */
export function createMailer(config: MailConfig, logger: Logger): Mailer {
  if (!config.smtpUrl) {
    return {
      transport: 'log',
      async send(mail) {
        logger.info({ mail: { from: config.from, ...mail } }, 'mail written to the log (SMTP_URL is unset)');
      },
      close() {},
    };
  }
  const transporter = nodemailer.createTransport({ url: config.smtpUrl, ...SMTP_TIMEOUTS }, { from: config.from });
  return {
    transport: 'smtp',
    async send(mail) {
      await transporter.sendMail(mail);
    },
    close() {
      transporter.close();
    },
  };
}
