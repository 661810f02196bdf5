import type { PasswordResetConfig } from '../config.js';
import type { Db } from '../db/database.js';
import { passwordResetsRepository } from '../db/password-resets.js';
import { usersRepository } from '../db/users.js';
import { InvalidResetTokenError } from '../errors.js';
import type { Tasks } from '../jobs.js';
import type { Logger } from '../logger.js';
import type { Mailer } from '../mail.js';
import { hashPassword } from '../security/passwords.js';
import { hashToken, newToken } from '../security/tokens.js';
import { endAllSessions } from './sessions.js';

export interface PasswordResetDeps {
  db: Db;
  mailer: Mailer;
  tasks: Tasks;
  logger: Logger;
  config: PasswordResetConfig;
}

export interface PasswordResets {
  /**
   * Leaves the lookup of `email` and the mail to a task and returns at once: the caller
   * answers the same, in the same time, whether or not the address belongs to a user.
   * `context` (the request id) goes with what the task logs.
   */
  request(email: string, context: Record<string, unknown>): void;
  /**
   * Sets the password of the user the token was mailed to, and ends every session of that
   * user; the token is used up. Throws InvalidResetTokenError for a used, expired or unknown one.
   */
  reset(token: string, password: string): Promise<void>;
}

/** Password reset by email: a one-time token, valid `config.ttlSeconds`, mailed to the address. */
export function passwordResets({ db, mailer, tasks, logger, config }: PasswordResetDeps): PasswordResets {
  const sendMail = async (email: string, context: Record<string, unknown>) => {
    const user = await usersRepository.findByEmail(db, email);
    if (!user) {
      logger.debug(context, 'password reset asked for an address that belongs to no user: no mail');
      return;
    }
    const { token, hash } = newToken();
    // A new token replaces any earlier one: only the latest mail works, and at most one
    // token per user is live, however often someone asks.
    await passwordResetsRepository.replace(db, user.id, hash, new Date(Date.now() + config.ttlSeconds * 1000));
    await mailer.send({ to: user.email, ...resetMail(user.username, token, config) });
    logger.info({ ...context, userId: user.id, transport: mailer.transport }, 'password reset mail sent');
  };

  return {
    request(email, context) {
      tasks.add('password reset mail', context, () => sendMail(email, context));
    },

    async reset(token, password) {
      const hash = hashToken(token);
      // Refused before the password is hashed, which costs tens of milliseconds of a core.
      if (!(await passwordResetsRepository.isLive(db, hash))) throw new InvalidResetTokenError();
      const passwordHash = await hashPassword(password);
      await db.transaction(async (trx) => {
        // The authoritative check: of two uses at once, one finds the token gone.
        const userId = await passwordResetsRepository.consume(trx, hash);
        if (userId === undefined) throw new InvalidResetTokenError();
        await usersRepository.update(trx, userId, { password_hash: passwordHash });
        await endAllSessions(trx, userId);
      });
    },
  };
}

/** The mail: the token, and the link when PASSWORD_RESET_URL is set. */
function resetMail(username: string, token: string, config: PasswordResetConfig): { subject: string; text: string } {
  const minutes = Math.round(config.ttlSeconds / 60);
  const link = config.urlTemplate?.replaceAll('{token}', encodeURIComponent(token));
  return {
    subject: 'Reset your Microblog password',
    text: [
      `Hello ${username},`,
      '',
      'Someone (you, we hope) asked to reset the password of your Microblog account.',
      ...(link ? ['To choose a new one, open:', '', link, '', 'or use this reset token:'] : ['To choose a new one, use this reset token:']),
      '',
      token,
      '',
      `It works once, for ${minutes} minute${minutes === 1 ? '' : 's'}. Setting a new password logs you out on every device.`,
      'If you did not ask for this, ignore this mail: your password stays as it is.',
      '',
    ].join('\n'),
  };
}
