"""The demo manuals: Japanese and English help articles (most public, some internal),
used by ``flask demo`` and by the search benchmark (``key`` names each one)."""
from __future__ import annotations

# key, category key, visibility, ja title, ja body, en title, en body (None: Japanese only)
CATEGORIES = [
    # key, parent, name_ja, name_en
    ("account", None, "アカウント", "Account"),
    ("billing", None, "お支払い・請求", "Billing and payment"),
    ("shipping", None, "配送", "Shipping"),
    ("returns", None, "返品・返金", "Returns and refunds"),
    ("plans", None, "プラン・契約", "Plans and contracts"),
    ("internal", None, "社内マニュアル", "Internal manuals"),
    ("internal-calls", "internal", "電話対応", "Phone handling"),
]

MANUALS = [
    {
        "key": "password_reset", "category": "account", "visibility": "public", "tags": ["password", "login"],
        "ja": ("パスワードの再設定方法", """パスワードを忘れた場合は、ログイン画面から再設定できます。

## 手順
1. ログイン画面の「パスワードをお忘れの方」を押します。
2. 登録済みのメールアドレスを入力します。
3. 届いたメールのリンクを開き、新しいパスワードを設定します（リンクの有効期限は30分です）。

## メールが届かない場合
- 迷惑メールフォルダをご確認ください。
- `support.example.test` からのメールを受信できるよう設定してください。
- それでも届かない場合は、[ログインできない場合](kb:login_trouble)の記事をご覧ください。

新しいパスワードは8文字以上で、英字と数字を組み合わせてください。"""),
        "en": ("How to reset your password", """If you forgot your password, you can reset it from the login screen.

## Steps
1. Click **Forgot your password?** on the login screen.
2. Enter the email address you registered with.
3. Open the link in the email we send and choose a new password (the link expires after 30 minutes).

## The email does not arrive
- Check your spam or junk folder.
- Allow mail from `support.example.test`.
- Still nothing? See [Can't log in](kb:login_trouble).

Passwords need at least 8 characters with letters and numbers."""),
    },
    {
        "key": "login_trouble", "category": "account", "visibility": "public", "tags": ["login"],
        "ja": ("ログインできない場合", """ログインできないときは、次の点をご確認ください。

- メールアドレスに誤りがないか（全角・半角の違いにもご注意ください）
- Caps Lock がオンになっていないか
- 5回続けて失敗すると、15分間ログインが制限されます

パスワードがわからない場合は[パスワードの再設定方法](kb:password_reset)をご覧ください。アカウントが停止されている場合はサポート窓口までお問い合わせください。"""),
        "en": ("Can't log in", """If you cannot sign in, please check the following:

- Is the email address typed correctly?
- Is Caps Lock on?
- After 5 failed attempts, logging in is blocked for 15 minutes.

If you do not know your password, follow [How to reset your password](kb:password_reset). If your account has been suspended, contact support."""),
    },
    {
        "key": "two_factor", "category": "account", "visibility": "public", "tags": ["security"],
        "ja": ("二段階認証の設定", """二段階認証を有効にすると、ログイン時にパスワードに加えて確認コードの入力が必要になり、不正ログインを防げます。

## 設定方法
1. マイページの「セキュリティ」を開きます。
2. 「二段階認証を有効にする」を選び、認証アプリで QR コードを読み取ります。
3. アプリに表示された6桁の確認コードを入力します。

機種変更の際は、事前に二段階認証を解除するか、バックアップコードを控えておいてください。"""),
        "en": ("Setting up two-factor authentication", """Two-factor authentication asks for a verification code in addition to your password, which protects your account from unauthorised logins.

## How to enable it
1. Open **Security** in My page.
2. Choose **Enable two-factor authentication** and scan the QR code with an authenticator app.
3. Enter the 6-digit code shown in the app.

Before you change phones, turn two-factor authentication off or keep your backup codes."""),
    },
    {
        "key": "address_change", "category": "account", "visibility": "public", "tags": ["profile"],
        "ja": ("登録情報（住所・メールアドレス）の変更", """ご住所、電話番号、メールアドレスはマイページの「登録情報」から変更できます。

- **住所変更**：発送前のご注文にも新しいご住所が反映されます。発送済みのご注文は変更できません。
- **メールアドレス変更**：新しいアドレスに確認メールが届きます。リンクを開くと変更が完了します。
- 氏名の変更は、本人確認のためサポート窓口で承ります。"""),
        "en": ("Updating your address and email", """You can change your address, phone number and email address under **Profile** in My page.

- **Address**: orders that have not shipped yet use the new address. Shipped orders cannot be changed.
- **Email address**: we send a confirmation email to the new address; the change completes when you open its link.
- To change your name, please contact support so we can verify your identity."""),
    },
    {
        "key": "invoice", "category": "billing", "visibility": "public", "tags": ["invoice", "billing"],
        "ja": ("請求書の発行・再発行", """請求書は毎月1日に発行され、マイページの「ご請求」からPDFでダウンロードできます。

## 再発行
宛名や住所を変更したい場合は、「ご請求」画面で対象の月を選び「請求書を再発行」を押してください。再発行した請求書には「再発行」と記載されます。

## 請求額が違うと思ったら
日割り計算やプラン変更の差額が含まれていることがあります。明細をご確認のうえ、ご不明な点はお問い合わせください。"""),
        "en": ("Invoices: download and reissue", """Invoices are issued on the 1st of every month. Download them as PDF from **Billing** in My page.

## Reissuing an invoice
To change the addressee or address, pick the month in **Billing** and click **Reissue invoice**. A reissued invoice is marked as such.

## The amount looks wrong
Invoices may include prorated charges or the difference after a plan change. Check the line items and contact us if anything is unclear."""),
    },
    {
        "key": "receipt", "category": "billing", "visibility": "public", "tags": ["receipt"],
        "ja": ("領収書の発行", """クレジットカードでお支払いの場合、領収書はマイページの注文履歴から発行できます。

- 宛名は発行時に入力できます（発行は1回限りです）。
- 代金引換の場合は、配送業者が発行する受領証が領収書となります。
- 銀行振込の場合は、振込の控えを領収書としてご利用ください。"""),
        "en": ("Receipts", """If you paid by credit card, you can issue a receipt from your order history in My page.

- You can enter the addressee when issuing it (a receipt can be issued once).
- For cash on delivery, the carrier's slip is your receipt.
- For bank transfers, please use your transfer record as the receipt."""),
    },
    {
        "key": "payment_methods", "category": "billing", "visibility": "public", "tags": ["payment"],
        "ja": ("お支払い方法について", """ご利用いただけるお支払い方法は次のとおりです。

| お支払い方法 | 手数料 |
|---|---|
| クレジットカード（VISA / Mastercard / JCB / AMEX） | 無料 |
| コンビニ払い | 220円 |
| 銀行振込 | 振込手数料はお客様負担 |
| 代金引換 | 330円 |

登録済みのクレジットカードの変更は、マイページの「お支払い方法」から行えます。カードの有効期限が切れると自動更新の決済に失敗しますのでご注意ください。"""),
        "en": ("Payment methods", """We accept the following payment methods:

| Method | Fee |
|---|---|
| Credit card (VISA / Mastercard / JCB / AMEX) | free |
| Convenience store | ¥220 |
| Bank transfer | transfer fee paid by you |
| Cash on delivery | ¥330 |

To update your credit card, open **Payment methods** in My page. An expired card makes renewal payments fail."""),
    },
    {
        "key": "shipping", "category": "shipping", "visibility": "public", "tags": ["shipping", "delivery"],
        "ja": ("配送について（配送料・お届け日数）", """ご注文確定後、通常2〜4営業日で発送いたします。

## 配送料
- 5,000円（税込）以上のご注文で送料無料
- それ以外は全国一律 600円（沖縄・離島は 1,200円）

## お届け日数
発送から本州は1〜2日、北海道・九州は2〜3日、沖縄・離島は3〜5日が目安です。お届け日時の指定は、ご注文時に承ります（午前中、14〜16時、16〜18時、18〜20時、19〜21時）。"""),
        "en": ("Shipping: fees and delivery times", """Orders usually ship within 2–4 business days after confirmation.

## Shipping fees
- Free shipping on orders of ¥5,000 or more (tax included)
- Otherwise a flat ¥600 (¥1,200 for Okinawa and remote islands)

## Delivery times
After shipping, delivery takes 1–2 days to Honshu, 2–3 days to Hokkaido and Kyushu, and 3–5 days to Okinawa and islands. You can choose a delivery time slot when you order."""),
    },
    {
        "key": "tracking", "category": "shipping", "visibility": "public", "tags": ["tracking"],
        "ja": ("配送状況の確認方法", """発送が完了すると「発送完了のお知らせ」メールでお問い合わせ番号をお送りします。

1. マイページの注文履歴を開きます。
2. 対象のご注文の「配送状況を確認」を押すと、配送業者の追跡ページが開きます。

お問い合わせ番号が反映されるまで半日ほどかかることがあります。1週間以上荷物が届かない場合はご連絡ください。"""),
        "en": ("Tracking your order", """When your order ships we email you a tracking number.

1. Open your order history in My page.
2. Click **Track package** on the order to open the carrier's tracking page.

It can take up to half a day for the tracking number to show. If your package has not arrived after a week, please contact us."""),
    },
    {
        "key": "returns", "category": "returns", "visibility": "public", "tags": ["returns", "exchange"],
        "ja": ("返品・交換のご案内", """商品到着後8日以内であれば、未使用品の返品・交換を承ります。

## 返品の手順
1. マイページの注文履歴から「返品・交換を申し込む」を選びます。
2. 理由を選択し、返送方法を確認します。
3. 商品を元の箱に入れ、同梱の返品伝票を貼って発送してください。

## 送料
- 初期不良・誤配送の場合：当社負担
- お客様都合の返品：返送料はお客様負担

セール品、開封済みのソフトウェア、食品は返品できません。"""),
        "en": ("Returns and exchanges", """Unused items can be returned or exchanged within 8 days of delivery.

## How to return an item
1. In your order history, choose **Request a return or exchange**.
2. Select the reason and check the return method.
3. Pack the item in its original box, attach the enclosed return label and send it.

## Return shipping
- Defective or wrong items: we pay
- Change of mind: return shipping is paid by you

Sale items, opened software and food cannot be returned."""),
    },
    {
        "key": "refund", "category": "returns", "visibility": "public", "tags": ["refund"],
        "ja": ("返金について", """返品された商品が倉庫に到着し、検品が完了してから返金いたします。

- クレジットカード：カード会社経由で返金します。反映まで1〜2か月かかることがあります。
- コンビニ払い・銀行振込：ご指定の口座へ10営業日以内にお振込みします。
- 代金引換：手数料を除いた金額を口座へお振込みします。

返金の時期についてご不明な点は、注文番号を添えてお問い合わせください。"""),
        "en": ("Refunds", """We refund your payment once the returned item reaches our warehouse and has been inspected.

- Credit card: refunded through the card company; it may take 1–2 billing cycles to appear.
- Convenience store or bank transfer: refunded to your bank account within 10 business days.
- Cash on delivery: refunded to your account, minus the fee.

If you have questions about when you will be refunded, contact us with your order number."""),
    },
    {
        "key": "plans", "category": "plans", "visibility": "public", "tags": ["plans", "pricing"],
        "ja": ("料金プランの違い", """3つの料金プランをご用意しています。

| プラン | 月額 | 内容 |
|---|---|---|
| ライト | 980円 | 基本機能、保存容量 10GB |
| スタンダード | 1,980円 | 全機能、保存容量 100GB、メールサポート |
| プレミアム | 3,980円 | 全機能、容量無制限、電話サポート優先 |

年払いにすると2か月分お得になります。"""),
        "en": ("Plans and pricing", """We offer three plans.

| Plan | Monthly | Includes |
|---|---|---|
| Lite | ¥980 | core features, 10 GB storage |
| Standard | ¥1,980 | all features, 100 GB, email support |
| Premium | ¥3,980 | all features, unlimited storage, priority phone support |

Paying yearly saves two months."""),
    },
    {
        "key": "plan_change", "category": "plans", "visibility": "public", "tags": ["plans"],
        "ja": ("プランの変更方法", """プランはマイページの「契約内容」からいつでも変更できます。

- **アップグレード**：すぐに反映され、差額は日割りで次回の請求に加算されます。
- **ダウングレード**：次の更新日から反映されます。保存容量が新しいプランの上限を超えている場合は、先にデータを整理してください。"""),
        "en": ("Changing your plan", """You can change your plan at any time under **Contract** in My page.

- **Upgrade**: takes effect at once; the prorated difference is added to your next invoice.
- **Downgrade**: takes effect from the next renewal date. If you use more storage than the new plan allows, tidy up your data first."""),
    },
    {
        "key": "cancellation", "category": "plans", "visibility": "public", "tags": ["cancellation"],
        "ja": ("解約の手続き", """解約はマイページの「契約内容」→「解約手続き」から行えます。

- 解約は次回更新日の前日までにお手続きください。更新日以降の解約は翌月分の料金が発生します。
- 解約後もデータは30日間保存され、その間に再契約すれば元どおりご利用いただけます。
- 年払いの途中解約による返金はございません。

解約前に、必要なデータのダウンロードをお忘れなく。"""),
        "en": ("Cancelling your subscription", """Cancel under **Contract** → **Cancel subscription** in My page.

- Cancel before the day of your next renewal; after the renewal date the next month is charged.
- Your data is kept for 30 days after cancellation; resubscribe within that time to carry on as before.
- Yearly plans are not refunded when cancelled early.

Download any data you need before you cancel."""),
    },
    {
        "key": "points", "category": "billing", "visibility": "public", "tags": ["points"], "en": None,
        "ja": ("ポイントの有効期限", """ポイントの有効期限は、最後にポイントを獲得またはご利用された日から1年間です。

- 期限が近づくと、30日前にメールでお知らせします。
- ポイントは1ポイント＝1円としてお支払いにご利用いただけます。
- 返品された場合、そのご注文で獲得したポイントは取り消されます。"""),
    },
    {
        "key": "refund_approval", "category": "internal", "visibility": "internal", "tags": ["refund", "internal"],
        "ja": ("【社内】返金処理の承認フロー", """返金は担当者の判断だけで実行しないでください。

1. チケットに返金理由・金額・注文番号を記録する。
2. 1万円未満はチームリーダー、1万円以上はスーパーバイザーの承認を得る。
3. 承認後、決済管理画面で返金を実行し、チケットに処理番号を記録する。

プラチナ会員のお客様は、返送前でも先行返金が可能です（スーパーバイザー承認必須）。"""),
        "en": ("Internal: refund approval flow", """Never issue a refund on your own judgement.

1. Record the reason, amount and order number on the ticket.
2. Under ¥10,000 a team lead approves; ¥10,000 or more needs a supervisor.
3. After approval, issue the refund in the payment console and note the transaction number on the ticket.

Platinum customers may be refunded before the item is returned (supervisor approval required)."""),
    },
    {
        "key": "phone_script", "category": "internal-calls", "visibility": "internal", "tags": ["phone", "internal"],
        "en": None,
        "ja": ("【社内】電話応対の基本スクリプト", """## 受電時
「お電話ありがとうございます。つなぐサポートセンター、担当の○○でございます。」

## 本人確認
氏名、ご登録の電話番号、生年月日の3点を確認する。3点が一致しない場合は、契約内容・請求金額をお伝えしない。

## 保留
保留は1回30秒以内。長引く場合は折り返しを提案する。

## 終話
「本日は○○が承りました。お電話ありがとうございました。」"""),
    },
    {
        "key": "fraud", "category": "internal", "visibility": "internal", "tags": ["security", "internal"], "en": None,
        "ja": ("【社内】不正利用が疑われる場合の対応", """身に覚えのない請求や不正ログインの申告があった場合：

1. アカウントを一時停止し、パスワードの再設定を案内する。
2. 直近30日のログイン履歴と注文履歴を確認する。
3. カードの不正利用が疑われる場合は、カード会社への連絡をお客様に案内する。
4. チケットに「不正利用」タグを付け、セキュリティ担当へエスカレーションする。"""),
    },
]
